// image_reference: Docker's reference grammar as a table of valid and invalid names (the cases
// follow distribution/reference's normalize_test.go and reference_test.go).
#include "k8s/artifacts/image_reference.h"

#include <gtest/gtest.h>

#include <string>

namespace kaito::k8s::artifacts {
namespace {

const std::string digest64 = "sha256:" + std::string(64, 'a');

struct valid_case {
  std::string ref, registry, repository, tag, digest, canonical;
};

TEST(ImageReference, Valid) {
  const valid_case cases[] = {
      {"ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest"},
      {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", ""},
      {"kaito/adapter", "docker.io", "kaito/adapter", "latest", "", ""},
      {"docker.io/kaito/adapter:v1", "docker.io", "kaito/adapter", "v1", "", ""},
      {"index.docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "", ""},
      {"127.0.0.1:5000/kaito/adapter:v1", "127.0.0.1:5000", "kaito/adapter", "v1", "",
       "127.0.0.1:5000/kaito/adapter:v1"},
      {"localhost/x", "localhost", "x", "latest", "", ""},
      {"localhost:5000/a/b/c:tag_1.2-3", "localhost:5000", "a/b/c", "tag_1.2-3", "", ""},
      {"myacr.azurecr.io/adapters/phi-3:0.0.1", "myacr.azurecr.io", "adapters/phi-3", "0.0.1", "",
       ""},
      {"mcr.microsoft.com/aks/kaito/kaito-base:0.0.8", "mcr.microsoft.com", "aks/kaito/kaito-base",
       "0.0.8", "", ""},
      {"[::1]:5000/x:y", "[::1]:5000", "x", "y", "", ""},
      {"host.example/a__b/c.d/e--f", "host.example", "a__b/c.d/e--f", "latest", "", ""},
      {"reg.io/x@" + digest64, "reg.io", "x", "", digest64, "reg.io/x@" + digest64},
      {"reg.io/x:v1@" + digest64, "reg.io", "x", "v1", digest64, "reg.io/x:v1@" + digest64},
      {"Reg.IO:443/x", "Reg.IO:443", "x", "latest", "", ""},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "", ""},  // as Docker reads it
  };
  for (const valid_case& c : cases) {
    SCOPED_TRACE(c.ref);
    auto r = parse_image_reference(c.ref, "tuning.output.image");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->registry, c.registry);
    EXPECT_EQ(r->repository, c.repository);
    EXPECT_EQ(r->tag, c.tag);
    EXPECT_EQ(r->digest, c.digest);
    if (!c.canonical.empty()) EXPECT_EQ(r->str(), c.canonical);
    auto again = parse_image_reference(r->str(), "x");  // canonical form parses to itself
    ASSERT_TRUE(again.ok()) << again.error().to_string();
    EXPECT_EQ(again->str(), r->str());
  }
}

struct invalid_case {
  std::string ref, says;
};

TEST(ImageReference, Invalid) {
  const invalid_case cases[] = {
      {"", "empty"},
      {"Ubuntu", "lower-case"},
      {"reg.io/Kaito/adapter", "lower-case"},
      {"reg.io/x:", "bad tag"},
      {"reg.io/x:-v1", "bad tag"},
      {"reg.io/x:" + std::string(129, 'a'), "bad tag"},
      {"reg.io/x:v1!", "bad tag"},
      {"reg.io/x@sha256:abc", "bad digest"},
      {"reg.io/x@md5:" + std::string(32, 'a'), "bad digest"},
      {"reg.io/x@sha256:" + std::string(64, 'A'), "bad digest"},
      {"reg.io/" + std::string(260, 'a'), "too long"},
      {"reg.io/" + std::string(250, 'a'), "too long"},
      {std::string(250, 'a'), "too long"},  // docker.io/library/ + 250
      {"reg.io/", "empty repository"},
      {"reg.io//x", "path component"},
      {"reg.io/x/", "path component"},
      {"reg.io/-x", "path component"},
      {"reg.io/x_", "path component"},
      {"reg.io/a___b", "path component"},
      {"reg.io/a..b", "path component"},
      {"reg.io/a b", "path component"},
      {"-reg.io/x", "bad registry"},
      {"reg.io:/x", "bad registry"},
      {"reg.io:50a/x", "bad registry"},
      {"[::1/x", "bad registry"},
      {":tag", "empty repository"},
      {"@" + digest64, "empty repository"},
      {std::string(64, 'b'), "64-character hexadecimal"},
  };
  for (const invalid_case& c : cases) {
    SCOPED_TRACE(c.ref.substr(0, 80));
    auto r = parse_image_reference(c.ref, "tuning.output.image");
    ASSERT_FALSE(r.ok()) << r->str();
    EXPECT_EQ(r.error().code(), status_code::invalid_argument);
    EXPECT_EQ(r.error().where(), "tuning.output.image");
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
}

TEST(ImageReference, Loopback) {
  for (const char* r : {"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000",
                        "127.1.2.3:80", "[::1]", "[::1]:5000"})
    EXPECT_TRUE(registry_is_loopback(r)) << r;
  for (const char* r :
       {"docker.io", "myacr.azurecr.io", "128.0.0.1:5000", "127.0.0.256", "127.0.0", "127.0.0.1.5",
        "localhost.example.com", "[::2]:5000", "", "10.0.0.1:5000", "127.0.0.1a"})
    EXPECT_FALSE(registry_is_loopback(r)) << r;
}

}  // namespace
}  // namespace kaito::k8s::artifacts
