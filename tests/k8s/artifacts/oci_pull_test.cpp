// oci_pull against a real registry (/usr/bin/docker-registry on 127.0.0.1, started by the test):
// our own pushed adapter image; a two-layer image with whiteouts behind a multi-platform OCI
// index and the same image in Docker v2 format, both written by skopeo from an OCI layout the
// test builds; Basic auth; a blob corrupted in the registry's storage; a missing tag; the size
// bound; and write_image_dir's path checks. Skipped when docker-registry or skopeo is missing.
#include "k8s/artifacts/oci_pull.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/encoding.h"
#include "k8s/artifacts/layer_archive.h"
#include "k8s/artifacts/oci_push.h"
#include "tests/k8s/artifacts/peers.h"

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::read_file;
using testing::temp_dir;
using testing::write_file;

class OciPull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::registry_bin)) GTEST_SKIP() << "no " << testing::registry_bin;
    opts_.retry_delay = std::chrono::milliseconds(20);
    opts_.timeout = std::chrono::seconds(60);
  }

  image_reference ref(const std::string& repo_tag) const {
    auto r = parse_image_reference(registry_.host() + "/" + repo_tag, "ref");
    EXPECT_TRUE(r.ok());
    return *r;
  }

  adapter_image adapter() {
    fs::create_directories(work_.path + "/adapter");
    write_file(work_.path + "/adapter/adapter_config.json", R"({"peft_type":"LORA","r":8})");
    std::string weights(300000, '\0');
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 13 % 251);
    write_file(work_.path + "/adapter/adapter_model.safetensors", weights);
    auto img = build_adapter_image(work_.path + "/adapter", "phi-3-mini-128k-instruct");
    EXPECT_TRUE(img.ok());
    return *img;
  }

  // Writes blob bytes into the OCI layout; returns its descriptor.
  json blob(const std::string& layout, const std::string& media_type, const std::string& bytes) {
    std::string digest = sha256_digest(bytes);
    write_file(layout + "/blobs/sha256/" + digest.substr(7), bytes);
    return {{"mediaType", media_type}, {"digest", digest}, {"size", bytes.size()}};
  }

  // An OCI layout with tag "multi" (an index: arm64 -> layer 1 only, amd64 -> layers 1 and 2)
  // and tag "amd64" (the amd64 manifest alone). Layer 2 replaces data/a.txt, whites out
  // data/gone.txt and makes data/dir opaque.
  std::string make_layout() {
    std::string layout = work_.path + "/layout";
    fs::create_directories(layout + "/blobs/sha256");
    write_file(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    auto tar1 = write_tar({{"data/", true, 0755, ""},
                           {"data/a.txt", false, 0644, "one"},
                           {"data/sub/b.txt", false, 0644, "two"},
                           {"data/gone.txt", false, 0644, "x"},
                           {"data/dir/old", false, 0644, "o"}});
    auto tar2 = write_tar({{"data/a.txt", false, 0644, "uno"},
                           {"data/.wh.gone.txt", false, 0644, ""},
                           {"data/dir/.wh..wh..opq", false, 0644, ""},
                           {"data/dir/new", false, 0644, "n"},
                           {"etc/motd", false, 0644, "outside data"}});
    EXPECT_TRUE(tar1.ok() && tar2.ok());
    auto gz1 = gzip_bytes(*tar1), gz2 = gzip_bytes(*tar2);
    EXPECT_TRUE(gz1.ok() && gz2.ok());
    json l1 = blob(layout, oci_layer_media_type, *gz1);
    json l2 = blob(layout, oci_layer_media_type, *gz2);
    auto manifest = [&](const std::string& arch, const json& layers, const json& diff_ids) {
      json config = {{"architecture", arch},
                     {"os", "linux"},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
      json m = {{"schemaVersion", 2},
                {"mediaType", oci_manifest_media_type},
                {"config", blob(layout, oci_config_media_type, config.dump())},
                {"layers", layers},
                {"annotations", {{"sh.kaito.model.name", "test-" + arch}}}};
      json d = blob(layout, oci_manifest_media_type, m.dump());
      d["platform"] = {{"architecture", arch}, {"os", "linux"}};
      return d;
    };
    json arm = manifest("arm64", json::array({l1}), json::array({sha256_digest(*tar1)}));
    json amd = manifest("amd64", json::array({l1, l2}),
                        json::array({sha256_digest(*tar1), sha256_digest(*tar2)}));
    json index = {{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.index.v1+json"},
                  {"manifests", json::array({arm, amd})}};
    json index_desc = blob(layout, "application/vnd.oci.image.index.v1+json", index.dump());
    index_desc["annotations"] = {{"org.opencontainers.image.ref.name", "multi"}};
    json amd_desc = amd;
    amd_desc.erase("platform");
    amd_desc["annotations"] = {{"org.opencontainers.image.ref.name", "amd64"}};
    write_file(layout + "/index.json",
               json({{"schemaVersion", 2}, {"manifests", json::array({index_desc, amd_desc})}})
                   .dump());
    return layout;
  }

  void expect_amd64_files(const pulled_image& img) {
    std::map<std::string, std::string> want = {{"data/a.txt", "uno"},
                                               {"data/sub/b.txt", "two"},
                                               {"data/dir/new", "n"},
                                               {"etc/motd", "outside data"}};
    EXPECT_EQ(img.files, want);
  }

  temp_dir work_, reg_;
  registry_options opts_;
  testing::registry_peer registry_;
};

TEST_F(OciPull, AdapterImageRoundTrip) {
  ASSERT_TRUE(registry_.start(reg_.path));
  adapter_image img = adapter();
  ASSERT_TRUE(push_image(ref("kaito/adapter:v1"), img, opts_).ok());

  auto pulled = pull_image(ref("kaito/adapter:v1"), opts_, 1 << 24);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->manifest_digest, img.manifest_digest);
  EXPECT_EQ(pulled->annotations.at("sh.kaito.model.name"), "phi-3-mini-128k-instruct");
  std::string out = work_.path + "/mnt/adapter/first";
  auto written = write_image_dir(*pulled, "data/", out);
  ASSERT_TRUE(written.ok()) << written.error().to_string();
  EXPECT_EQ(*written,
            (std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"}));
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
    EXPECT_EQ(read_file(out + "/" + f), read_file(work_.path + "/adapter/" + f)) << f;

  // By digest too.
  auto by_digest = pull_image(ref("kaito/adapter@" + img.manifest_digest), opts_, 1 << 24);
  ASSERT_TRUE(by_digest.ok()) << by_digest.error().to_string();
  EXPECT_EQ(by_digest->files, pulled->files);

  auto missing = pull_image(ref("kaito/adapter:v9"), opts_, 1 << 24);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), status_code::not_found);
  EXPECT_NE(missing.error().message().find("pull manifest: GET http://" + registry_.host() +
                                           "/v2/kaito/adapter/manifests/v9: 404"),
            std::string::npos)
      << missing.error().message();

  auto small = pull_image(ref("kaito/adapter:v1"), opts_, 1000);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code(), status_code::resource_exhausted) << small.error().to_string();

  // One byte of the layer changed in the registry's storage: the digest check catches it.
  std::string hex = img.layer.digest.substr(7);
  std::string data = reg_.path + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) +
                     "/" + hex + "/data";
  ASSERT_TRUE(fs::exists(data));
  std::string bytes = read_file(data);
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file(data, bytes);
  auto corrupt = pull_image(ref("kaito/adapter:v1"), opts_, 1 << 24);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code(), status_code::data_loss) << corrupt.error().to_string();
  EXPECT_NE(corrupt.error().message().find("blob " + img.layer.digest + ": the registry sent"),
            std::string::npos)
      << corrupt.error().message();
}

TEST_F(OciPull, IndexPicksAmd64AndAppliesWhiteouts) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  ASSERT_TRUE(registry_.start(reg_.path));
  std::string layout = make_layout();
  auto copy = registry_.skopeo("copy --all --insecure-policy --dest-tls-verify=false oci:" +
                               layout + ":multi docker://" + registry_.host() + "/x/multi:v1");
  ASSERT_EQ(copy.exit_code, 0) << copy.out;
  auto pulled = pull_image(ref("x/multi:v1"), opts_, 1 << 24);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  expect_amd64_files(*pulled);
  EXPECT_EQ(pulled->annotations.at("sh.kaito.model.name"), "test-amd64");

  std::string out = work_.path + "/mnt/data";
  auto written = write_image_dir(*pulled, "data/", out);
  ASSERT_TRUE(written.ok()) << written.error().to_string();
  EXPECT_EQ(*written, (std::vector<std::string>{"a.txt", "dir/new", "sub/b.txt"}));
  EXPECT_EQ(read_file(out + "/dir/new"), "n");
  EXPECT_FALSE(fs::exists(out + "/gone.txt"));

  auto none = write_image_dir(*pulled, "weights/", work_.path + "/w");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), status_code::not_found);
}

TEST_F(OciPull, DockerV2ManifestWithBasicAuth) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  std::string line = testing::htpasswd_line();
  if (line.empty()) GTEST_SKIP() << "no bcrypt (python3 crypt/bcrypt or htpasswd)";
  ASSERT_TRUE(registry_.start(reg_.path, line));
  std::string layout = make_layout();
  auto copy = registry_.skopeo("copy --insecure-policy --format v2s2 --dest-tls-verify=false "
                               "--dest-creds kaito:secret oci:" +
                               layout + ":amd64 docker://" + registry_.host() + "/x/docker:v1");
  ASSERT_EQ(copy.exit_code, 0) << copy.out;
  auto raw = registry_.skopeo("inspect --raw --tls-verify=false --creds kaito:secret docker://" +
                              registry_.host() + "/x/docker:v1");
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  EXPECT_NE(raw.out.find("application/vnd.docker.distribution.manifest.v2+json"),
            std::string::npos)
      << raw.out;

  auto anonymous = pull_image(ref("x/docker:v1"), opts_, 1 << 24);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code(), status_code::unauthenticated)
      << anonymous.error().to_string();

  opts_.credentials = {"kaito", "secret", ""};
  auto pulled = pull_image(ref("x/docker:v1"), opts_, 1 << 24);
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  expect_amd64_files(*pulled);
}

TEST(WriteImageDir, RefusesDotDotPaths) {
  temp_dir dir;
  pulled_image img;
  img.files["data/ok.txt"] = "fine";
  img.files["data/../../escape.txt"] = "no";
  auto r = write_image_dir(img, "data/", dir.path + "/out");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::invalid_argument);
  EXPECT_EQ(r.error().where(), "data/../../escape.txt");
  EXPECT_FALSE(fs::exists(dir.path + "/out/ok.txt"));  // checked before anything is written
  EXPECT_FALSE(fs::exists(dir.path + "/escape.txt"));
}

}  // namespace
}  // namespace kaito::k8s::artifacts
