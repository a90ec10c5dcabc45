// image_reference: Docker's reference grammar as a table of valid and invalid names (the cases
// follow distribution/reference's normalize_test.go and reference_test.go). The grammar is
// api::parse_docker_ref's; these check the mapping onto registry/repository, the field named, and
// that the Go library's message comes through.
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
      // Only a whole reference of 64 hex digits is refused (anchoredIdentifierRegexp).
      {"reg.io/" + std::string(64, 'b'), "reg.io", std::string(64, 'b'), "latest", "", ""},
      {"reg.io/x@sha512:" + std::string(128, 'c'), "reg.io", "x", "",
       "sha512:" + std::string(128, 'c'), ""},
      {"Reg/x", "Reg", "x", "latest", "", ""},  // an upper-case first component is a registry
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
      {"", "invalid reference format"},
      {"Ubuntu", "repository name (library/Ubuntu) must be lowercase"},
      {"reg.io/Kaito/adapter", "repository name (Kaito/adapter) must be lowercase"},
      {"reg.io/x:", "invalid reference format"},                          // empty tag
      {"reg.io/x:-v1", "invalid reference format"},                       // tag starts with '-'
      {"reg.io/x:" + std::string(129, 'a'), "invalid reference format"},  // tag over 128
      {"reg.io/x:v1!", "invalid reference format"},
      {"reg.io/x@sha256:abc", "invalid reference format"},  // under 32 hex digits
      {"reg.io/x@sha256:" + std::string(32, 'a'), "invalid checksum digest length"},
      {"reg.io/x@md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
      {"reg.io/x@sha256:" + std::string(64, 'A'), "invalid checksum digest format"},
      {"reg.io/" + std::string(260, 'a'), "must not be more than 255 characters"},
      {"reg.io/" + std::string(250, 'a'), "must not be more than 255 characters"},
      {std::string(250, 'a'), "must not be more than 255 characters"},  // docker.io/library/ + 250
      {"reg.io/", "invalid reference format"},                          // empty repository
      {"reg.io//x", "invalid reference format"},                        // empty path component
      {"reg.io/x/", "invalid reference format"},
      {"reg.io/-x", "invalid reference format"},
      {"reg.io/x_", "invalid reference format"},
      {"reg.io/a___b", "invalid reference format"},
      {"reg.io/a..b", "invalid reference format"},
      {"reg.io/a b", "invalid reference format"},
      {"-reg.io/x", "invalid reference format"},  // bad registry
      {"reg.io:/x", "invalid reference format"},
      {"reg.io:50a/x", "invalid reference format"},
      {"[::1/x", "invalid reference format"},
      {":tag", "invalid reference format"},  // empty repository
      {"@" + digest64, "invalid reference format"},
      {std::string(64, 'b'), "cannot specify 64-byte hexadecimal strings"},
      {"a_b.c/x", "no registry (\"a_b.c\" is not a host name)"},  // Go: no domain at all
  };
  for (const invalid_case& c : cases) {
    SCOPED_TRACE(c.ref.substr(0, 80));
    auto r = parse_image_reference(c.ref, "tuning.output.image");
    ASSERT_FALSE(r.ok()) << r->str();
    EXPECT_EQ(r.error().code(), status_code::invalid_argument);
    EXPECT_EQ(r.error().where(), "tuning.output.image");
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().rfind("image reference \"", 0), 0u) << r.error().message();
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
