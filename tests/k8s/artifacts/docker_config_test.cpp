// docker_config: every auth shape a .dockerconfigjson holds, key spellings, and malformed input
// named by file and JSON path.
#include "k8s/artifacts/docker_config.h"

#include <gtest/gtest.h>

#include <string>

#include "k8s/artifacts/encoding.h"

namespace kaito::k8s::artifacts {
namespace {

registry_credentials must(const std::string& json, const std::string& registry) {
  auto c = credentials_for(json, registry, "config.json");
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  return c.ok() ? *c : registry_credentials{};
}

TEST(DockerConfig, AuthField) {
  std::string cfg =
      R"({"auths":{"myacr.azurecr.io":{"auth":")" + base64_encode("user:pa:ss") + R"("}}})";
  auto c = must(cfg, "myacr.azurecr.io");
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, "pa:ss");  // split at the first ':'
  EXPECT_TRUE(must(cfg, "other.io").empty());
}

TEST(DockerConfig, UsernamePasswordAndIdentityToken) {
  auto c =
      must(R"({"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}}})", "127.0.0.1:5000");
  EXPECT_EQ(c.username, "u");
  EXPECT_EQ(c.password, "p");
  c = must(R"({"auths":{"https://myacr.azurecr.io":{"identitytoken":"rt"}}})", "myacr.azurecr.io");
  EXPECT_EQ(c.identity_token, "rt");
  EXPECT_FALSE(c.empty());
  // auth wins over username/password, as in docker/cli.
  c = must(R"({"auths":{"h.io":{"auth":")" + base64_encode("a:b") +
               R"(","username":"x","password":"y","email":"e@x"}}})",
           "h.io");
  EXPECT_EQ(c.username, "a");
  EXPECT_EQ(c.password, "b");
}

TEST(DockerConfig, KeySpellings) {
  for (const char* key :
       {"h.io:5000", "https://h.io:5000", "http://h.io:5000/v1/", "https://h.io:5000/v2/"}) {
    std::string cfg =
        std::string(R"({"auths":{")") + key + R"(":{"username":"u","password":"p"}}})";
    EXPECT_EQ(must(cfg, "h.io:5000").username, "u") << key;
    EXPECT_TRUE(must(cfg, "h.io").empty()) << key;  // the port is part of the host
  }
  for (const char* key :
       {"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"}) {
    std::string cfg =
        std::string(R"({"auths":{")") + key + R"(":{"username":"hub","password":"p"}}})";
    EXPECT_EQ(must(cfg, "docker.io").username, "hub") << key;
  }
  // An exact key wins over one that matches after normalising, whatever the order.
  auto c =
      must(R"({"auths":{"https://h.io":{"username":"url"},"h.io":{"username":"exact"}}})", "h.io");
  EXPECT_EQ(c.username, "exact");
}

TEST(DockerConfig, NothingListed) {
  EXPECT_TRUE(must("{}", "h.io").empty());
  EXPECT_TRUE(must(R"({"auths":{}})", "h.io").empty());
  EXPECT_TRUE(must(R"({"auths":null,"credsStore":"desktop"})", "h.io").empty());
  EXPECT_TRUE(must(R"({"auths":{"h.io":{}}})", "h.io").empty());
}

struct malformed_case {
  std::string json, says;
};

TEST(DockerConfig, Malformed) {
  const malformed_case cases[] = {
      {"", "not JSON (byte"},
      {"{\"auths\":", "not JSON (byte"},
      {"[]", ": not an object (array)"},
      {R"({"auths":[]})", "auths: not an object (array)"},
      {R"({"auths":{"h.io":"x"}})", "auths[\"h.io\"]: not an object (string)"},
      {R"({"auths":{"h.io":{"auth":"***"}}})", "auths[\"h.io\"].auth: not base64"},
      {R"({"auths":{"h.io":{"auth":"dXNlcg=="}}})", "auths[\"h.io\"].auth: not base64 of"},
      {R"({"auths":{"h.io":{"username":5}}})", "auths[\"h.io\"].username: not a string (number)"},
      {R"({"auths":{"https://h.io":{"identitytoken":[]}}})",
       "auths[\"https://h.io\"].identitytoken: not a string (array)"},
  };
  for (const malformed_case& c : cases) {
    SCOPED_TRACE(c.json);
    auto r = credentials_for(c.json, "h.io", "/root/.docker/config.json");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), status_code::invalid_argument);
    EXPECT_EQ(r.error().where(), "/root/.docker/config.json");
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
  // A malformed entry for another registry is not read.
  EXPECT_TRUE(must(R"({"auths":{"other.io":{"auth":"***"}}})", "h.io").empty());
}

TEST(Encoding, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "user:password", "\xff\x00\x10"}) {
    auto d = base64_decode(base64_encode(s), "f");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  for (const char* bad : {"QQ", "Q===", "QQ=A", "====", "ab$d"})
    EXPECT_FALSE(base64_decode(bad, "f").ok()) << bad;
  EXPECT_EQ(*base64_decode("dXNl\ncjpw YXNz", "f"), "user:pass");  // whitespace skipped
}

}  // namespace
}  // namespace kaito::k8s::artifacts
