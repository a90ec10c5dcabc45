// registry_auth: WWW-Authenticate challenges as registries send them, and Docker's token protocol
// against http_peer.py's /token (Basic credentials, refresh-token grant, refusals).
#include "k8s/artifacts/registry_auth.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "k8s/artifacts/encoding.h"
#include "tests/k8s/artifacts/peers.h"

namespace kaito::k8s::artifacts {
namespace {

using testing::child_process;
using testing::temp_dir;

TEST(RegistryAuth, ParsesChallenges) {
  auto b = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:samalba/my-app:pull,push")");
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(b->scheme, "bearer");
  EXPECT_EQ(b->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(b->params["service"], "registry.docker.io");
  EXPECT_EQ(b->params["scope"], "repository:samalba/my-app:pull,push");

  auto basic = parse_www_authenticate(R"(Basic realm="Registry Realm")");
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic->scheme, "basic");
  EXPECT_EQ(basic->params["realm"], "Registry Realm");

  auto spaced = parse_www_authenticate(R"(BEARER Realm = "a\"b" , Service=plain, x="")");
  ASSERT_TRUE(spaced.ok()) << spaced.error().to_string();
  EXPECT_EQ(spaced->scheme, "bearer");
  EXPECT_EQ(spaced->params["realm"], "a\"b");
  EXPECT_EQ(spaced->params["service"], "plain");
  EXPECT_EQ(spaced->params["x"], "");

  auto two = parse_www_authenticate(R"(Basic realm="r", Bearer realm="t")");  // first one only
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->params.size(), 1u);
  EXPECT_EQ(two->params["realm"], "r");

  EXPECT_FALSE(parse_www_authenticate("").ok());
  EXPECT_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(parse_www_authenticate(R"(Bearer ="x")").ok());
}

TEST(RegistryAuth, BasicNeedsCredentials) {
  auth_challenge basic{"basic", {{"realm", "r"}}};
  auto a = authorization_for(basic, {"kaito", "secret", ""}, "h.io", "repository:x:pull,push", {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "Basic " + base64_encode("kaito:secret"));
  auto none = authorization_for(basic, {}, "h.io", "repository:x:pull,push", {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), status_code::unauthenticated);
  EXPECT_NE(none.error().message().find("h.io"), std::string::npos);
  auto other = authorization_for({"negotiate", {}}, {}, "h.io", "s", {});
  EXPECT_EQ(other.error().code(), status_code::unimplemented);
}

TEST(RegistryAuth, BearerTokens) {
  const char* python = "/usr/bin/python3";
  if (!std::filesystem::exists(python)) GTEST_SKIP() << "no " << python;
  temp_dir d;
  int port = testing::free_port();
  child_process peer(
      {python, KAITO_SOURCE_DIR "/tests/k8s/artifacts/http_peer.py", std::to_string(port), d.path},
      d.path + "/peer.log");
  ASSERT_TRUE(testing::wait_for_port(port, std::chrono::seconds(10)));
  std::string realm = "http://127.0.0.1:" + std::to_string(port) + "/token";
  auth_challenge ch{"bearer", {{"realm", realm}, {"service", "reg.io"}}};
  const std::string scope = "repository:kaito/adapter:pull,push";

  auto basic = authorization_for(ch, {"kaito", "secret", ""}, "reg.io", scope, {});
  ASSERT_TRUE(basic.ok()) << basic.error().to_string();
  EXPECT_EQ(*basic, "Bearer tok:reg.io:" + scope);

  auto refresh = authorization_for(ch, {"", "", "refresh-me"}, "reg.io", scope, {});
  ASSERT_TRUE(refresh.ok()) << refresh.error().to_string();
  EXPECT_EQ(*refresh, "Bearer tok:reg.io:" + scope);

  auto wrong = authorization_for(ch, {"kaito", "wrong", ""}, "reg.io", scope, {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), status_code::unauthenticated);
  EXPECT_NE(wrong.error().message().find("401 UNAUTHORIZED: bad login"), std::string::npos)
      << wrong.error().message();
  EXPECT_NE(wrong.error().message().find(realm), std::string::npos);

  auth_challenge no_realm{"bearer", {{"service", "reg.io"}}};
  EXPECT_EQ(authorization_for(no_realm, {}, "reg.io", scope, {}).error().code(),
            status_code::invalid_argument);
}

}  // namespace
}  // namespace kaito::k8s::artifacts
