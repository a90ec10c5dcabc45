// Image references (distribution/reference), DNS-1123 names, quantities, status -> HTTP mapping.
#include <gtest/gtest.h>

#include "protocol/api/data_url.h"
#include "protocol/api/image_reference.h"
#include "protocol/api/k8s_names.h"
#include "protocol/api/meta.h"

namespace kaito::api {
namespace {

TEST(ImageReference, NormalisesLikeParseDockerRef) {
  struct row {
    const char* in;
    const char* out;  // nullptr: error
    const char* err;
  };
  std::vector<row> rows = {
      {"ubuntu", "docker.io/library/ubuntu:latest", nullptr},
      {"nginx:1.25", "docker.io/library/nginx:1.25", nullptr},
      {"myacr.azurecr.io/adapters/phi-3:0.0.1", "myacr.azurecr.io/adapters/phi-3:0.0.1", nullptr},
      {"localhost:5000/a/b", "localhost:5000/a/b:latest", nullptr},
      {"[::1]:5000/img:tag", "[::1]:5000/img:tag", nullptr},
      {"a__b/c_d.e-f--g", "docker.io/a__b/c_d.e-f--g:latest", nullptr},
      {"r.io/x@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "r.io/x@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", nullptr},
      {"r.io/x@sha256:abcdefabcdefabcdefabcdefabcdefab", nullptr, "invalid checksum digest length"},
      {"r.io/x@md5:abcdefabcdefabcdefabcdefabcdefab", nullptr, "unsupported digest algorithm"},
      {"r.io/x@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nullptr,
       "invalid checksum digest format"},  // go-digest: lower-case hex only
      {"r.io/x:v1@MD5:abcdefabcdefabcdefabcdefabcdefab", nullptr,
       "invalid checksum digest format"},  // not DigestRegexp's lower-case algorithm
      {"r.io/x@MD5:abcdefabcdefabcdefabcdefabcdefab", nullptr,  // Go's remote name check first
       "invalid reference format: repository name (x@MD5) must be lowercase"},
      {"ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", nullptr,
       "invalid reference format: repository name (IMAGE_NAME_HERE) must be lowercase"},
      {"Ubuntu", nullptr,
       "invalid reference format: repository name (library/Ubuntu) must be "
       "lowercase"},
      {"ubuntu:", nullptr, "invalid reference format"},
      {"a//b", nullptr, "invalid reference format"},
      {"-a/b", nullptr, "invalid reference format"},
      {"", nullptr, "invalid reference format"},
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", nullptr,
       "invalid repository name "
       "(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa), "
       "cannot specify 64-byte hexadecimal strings"},
  };
  for (const auto& r : rows) {
    auto p = parse_docker_ref(r.in);
    if (r.out) {
      ASSERT_TRUE(p.ok()) << r.in << ": " << p.error().message();
      EXPECT_EQ(p->to_string(), r.out);
    } else {
      ASSERT_FALSE(p.ok()) << r.in;
      EXPECT_EQ(p.error().message(), r.err) << r.in;
    }
  }
  std::string long_name = "r.io/" + std::string(260, 'a');
  EXPECT_EQ(parse_docker_ref(long_name).error().message(),
            "repository name must not be more than 255 characters");
}

TEST(DataUrl, AcceptsPublicHttpAndRefusesTheRest) {
  EXPECT_TRUE(validate_data_source_url("HTTPS://Example.com:443/a?b=c#d").ok());
  EXPECT_TRUE(validate_data_source_url("http://user:pw@8.8.8.8/x").ok());
  EXPECT_FALSE(validate_data_source_url("http://user@127.0.0.1/x").ok());
  EXPECT_FALSE(validate_data_source_url("http://224.0.0.251/x").ok());
  EXPECT_FALSE(validate_data_source_url("http://[ff02::1]/x").ok());
  EXPECT_FALSE(validate_data_source_url("http://instance-data.ec2.internal/x").ok());
  EXPECT_FALSE(validate_data_source_url("http://example.com:port/x").ok());
  EXPECT_FALSE(validate_data_source_url("").ok());
  EXPECT_TRUE(validate_data_source_url("http://172.32.0.1/x").ok());  // outside 172.16/12
}

TEST(Dns1123, LabelAndSubdomain) {
  EXPECT_TRUE(is_dns1123_label("workspace-tuning-phi-3").empty());
  EXPECT_TRUE(is_dns1123_label("0abc").empty());
  EXPECT_EQ(is_dns1123_label("-a").size(), 1u);
  EXPECT_EQ(is_dns1123_label("a.b"), std::vector<std::string>{"must not contain dots"});
  EXPECT_EQ(is_dns1123_label(std::string(64, 'a') + ".b").size(), 2u);
  EXPECT_TRUE(is_dns1123_subdomain("a.b-c.d").empty());
  EXPECT_EQ(is_dns1123_subdomain("a..b").size(), 1u);
}

TEST(Quantity, BinarySuffixes) {
  EXPECT_EQ(format_binary_quantity(16LL << 30), "16Gi");
  EXPECT_EQ(format_binary_quantity(1536LL << 20), "1536Mi");
  EXPECT_EQ(format_binary_quantity(7645041787LL), "7645041787");
  EXPECT_EQ(format_binary_quantity(0), "0");
}

TEST(StatusMapping, CodesAndReasons) {
  EXPECT_EQ(http_reason_for(status_code::not_found).code, 404);
  EXPECT_STREQ(http_reason_for(status_code::not_found).reason, "NotFound");
  EXPECT_EQ(http_reason_for(status_code::already_exists).code, 409);
  EXPECT_STREQ(http_reason_for(status_code::conflict).reason, "Conflict");
  EXPECT_EQ(http_reason_for(status_code::invalid_argument).code, 400);
  EXPECT_EQ(http_reason_for(status_code::unavailable).code, 503);
  k8s_status s = status_from(not_found("workspaces.kaito.sh \"nope\" not found"));
  json j = encode_status(s);
  EXPECT_EQ(j, json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"workspaces.kaito.sh \"nope\" not found",
      "reason":"NotFound","code":404})"));
}

}  // namespace
}  // namespace kaito::api
