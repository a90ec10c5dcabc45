// oci_pull against a real registry (/usr/bin/docker-registry on 127.0.0.1, started by the test):
// our own pushed adapter image; a two-layer image with whiteouts behind a multi-platform OCI
// index and the same image in Docker v2 format, an oras-style file artifact and a layer with a
// ".." entry, all written by skopeo from OCI layouts the test builds; Basic auth; a blob
// corrupted in the registry's storage; a missing tag; the size bound. A failed pull leaves the
// destination as it was. Skipped when docker-registry or skopeo is missing.
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
    write_file(
        layout + "/index.json",
        json({{"schemaVersion", 2}, {"manifests", json::array({index_desc, amd_desc})}}).dump());
    return layout;
  }

  // Every regular file under dir: relative path -> contents.
  static std::map<std::string, std::string> tree(const std::string& dir) {
    std::map<std::string, std::string> out;
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_file(e.path());
    return out;
  }

  void expect_amd64_files(const pull_result& r, const std::string& dir) {
    std::map<std::string, std::string> want = {
        {"a.txt", "uno"}, {"sub/b.txt", "two"}, {"dir/new", "n"}};
    EXPECT_EQ(tree(dir), want);
    EXPECT_EQ(r.files, (std::vector<std::string>{"a.txt", "dir/new", "sub/b.txt"}));
    EXPECT_FALSE(fs::exists(dir + ".pull"));  // the staging folder is gone
  }

  // Copies an OCI layout's tag to the registry with skopeo (extra: skopeo flags).
  void copy_layout(const std::string& layout, const std::string& tag, const std::string& to,
                   const std::string& extra = "") {
    auto copy =
        registry_.skopeo("copy --insecure-policy --dest-tls-verify=false " + extra +
                         " oci:" + layout + ":" + tag + " docker://" + registry_.host() + "/" + to);
    ASSERT_EQ(copy.exit_code, 0) << copy.out;
  }

  // An OCI layout with one image tagged `tag` whose layers are `layers` (descriptors from blob()).
  void single_image_layout(const std::string& layout, const std::string& tag, const json& layers) {
    json config = {{"architecture", "amd64"}, {"os", "linux"}};
    json m = {{"schemaVersion", 2},
              {"mediaType", oci_manifest_media_type},
              {"config", blob(layout, oci_config_media_type, config.dump())},
              {"layers", layers}};
    json d = blob(layout, oci_manifest_media_type, m.dump());
    d["annotations"] = {{"org.opencontainers.image.ref.name", tag}};
    write_file(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    write_file(layout + "/index.json",
               json({{"schemaVersion", 2}, {"manifests", json::array({d})}}).dump());
  }

  temp_dir work_, reg_;
  registry_options opts_;
  testing::registry_peer registry_;
};

TEST_F(OciPull, AdapterImageRoundTrip) {
  ASSERT_TRUE(registry_.start(reg_.path));
  adapter_image img = adapter();
  ASSERT_TRUE(push_image(ref("kaito/adapter:v1"), img, opts_).ok());

  std::string out = work_.path + "/mnt/adapter/first";
  auto pulled = pull_image(ref("kaito/adapter:v1"), opts_, {.dest_dir = out});
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->manifest_digest, img.manifest_digest);
  EXPECT_EQ(pulled->annotations.at("sh.kaito.model.name"), "phi-3-mini-128k-instruct");
  EXPECT_EQ(pulled->files,
            (std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"}));
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
    EXPECT_EQ(read_file(out + "/" + f), read_file(work_.path + "/adapter/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + ".pull"));

  // By digest too.
  std::string second = work_.path + "/second";
  auto by_digest =
      pull_image(ref("kaito/adapter@" + img.manifest_digest), opts_, {.dest_dir = second});
  ASSERT_TRUE(by_digest.ok()) << by_digest.error().to_string();
  EXPECT_EQ(tree(second), tree(out));

  std::string nowhere = work_.path + "/nowhere";
  auto missing = pull_image(ref("kaito/adapter:v9"), opts_, {.dest_dir = nowhere});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), status_code::not_found);
  EXPECT_NE(missing.error().message().find("pull manifest: GET http://" + registry_.host() +
                                           "/v2/kaito/adapter/manifests/v9: 404"),
            std::string::npos)
      << missing.error().message();

  auto small = pull_image(ref("kaito/adapter:v1"), opts_, {.dest_dir = nowhere, .max_bytes = 1000});
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code(), status_code::resource_exhausted) << small.error().to_string();
  auto no_data =
      pull_image(ref("kaito/adapter:v1"), opts_, {.dest_dir = nowhere, .prefix = "weights/"});
  ASSERT_FALSE(no_data.ok());
  EXPECT_EQ(no_data.error().code(), status_code::not_found) << no_data.error().to_string();
  EXPECT_FALSE(fs::exists(nowhere));  // failed pulls leave nothing behind
  EXPECT_FALSE(fs::exists(nowhere + ".pull"));

  // One byte of the layer changed in the registry's storage: the digest check catches it, and
  // the folder that held the good pull keeps it.
  std::string hex = img.layer.digest.substr(7);
  std::string data = reg_.path + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) +
                     "/" + hex + "/data";
  ASSERT_TRUE(fs::exists(data));
  std::string bytes = read_file(data);
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file(data, bytes);
  auto before = tree(out);
  auto corrupt = pull_image(ref("kaito/adapter:v1"), opts_, {.dest_dir = out});
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().code(), status_code::data_loss) << corrupt.error().to_string();
  EXPECT_NE(corrupt.error().message().find("blob " + img.layer.digest + ": the registry sent"),
            std::string::npos)
      << corrupt.error().message();
  EXPECT_EQ(tree(out), before);
}

TEST_F(OciPull, IndexPicksAmd64AndAppliesWhiteouts) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  ASSERT_TRUE(registry_.start(reg_.path));
  std::string layout = make_layout();
  copy_layout(layout, "multi", "x/multi:v1", "--all");
  std::string out = work_.path + "/mnt/data";
  auto pulled = pull_image(ref("x/multi:v1"), opts_, {.dest_dir = out});
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  expect_amd64_files(*pulled, out);
  EXPECT_EQ(pulled->annotations.at("sh.kaito.model.name"), "test-amd64");
  // With no prefix the whole file system comes.
  std::string all = work_.path + "/all";
  auto whole = pull_image(ref("x/multi:v1"), opts_, {.dest_dir = all, .prefix = ""});
  ASSERT_TRUE(whole.ok()) << whole.error().to_string();
  EXPECT_EQ(tree(all).at("etc/motd"), "outside data");
  EXPECT_EQ(tree(all).at("data/a.txt"), "uno");
}

TEST_F(OciPull, DockerV2ManifestWithBasicAuth) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  std::string line = testing::htpasswd_line();
  if (line.empty()) GTEST_SKIP() << "no bcrypt (python3 crypt/bcrypt or htpasswd)";
  ASSERT_TRUE(registry_.start(reg_.path, line));
  std::string layout = make_layout();
  copy_layout(layout, "amd64", "x/docker:v1", "--format v2s2 --dest-creds kaito:secret");
  auto raw = registry_.skopeo("inspect --raw --tls-verify=false --creds kaito:secret docker://" +
                              registry_.host() + "/x/docker:v1");
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  EXPECT_NE(raw.out.find("application/vnd.docker.distribution.manifest.v2+json"), std::string::npos)
      << raw.out;

  std::string out = work_.path + "/out";
  auto anonymous = pull_image(ref("x/docker:v1"), opts_, {.dest_dir = out});
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code(), status_code::unauthenticated)
      << anonymous.error().to_string();

  opts_.credentials = {"kaito", "secret", ""};
  auto pulled = pull_image(ref("x/docker:v1"), opts_, {.dest_dir = out});
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  expect_amd64_files(*pulled, out);
}

TEST_F(OciPull, OrasFileArtifact) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  ASSERT_TRUE(registry_.start(reg_.path));
  // What `oras push REF config.json model.safetensors` writes: raw files as layers, each named by
  // its title annotation (the first with oras' default media type, which says tar but is not).
  std::string layout = work_.path + "/oras";
  fs::create_directories(layout + "/blobs/sha256");
  json l1 = blob(layout, "application/vnd.oci.image.layer.v1.tar", R"({"model_type":"phi3"})");
  l1["annotations"] = {{"org.opencontainers.image.title", "config.json"}};
  json l2 = blob(layout, "application/vnd.kaito.weights", std::string(5000, '\x07'));
  l2["annotations"] = {{"org.opencontainers.image.title", "model.safetensors"}};
  auto gz = gzip_bytes("not a tar inside");  // a compressed file is still a file
  ASSERT_TRUE(gz.ok());
  json l3 = blob(layout, "application/vnd.oci.image.layer.v1.tar", *gz);
  l3["annotations"] = {{"org.opencontainers.image.title", "notes.gz"}};
  single_image_layout(layout, "v1", json::array({l1, l2, l3}));
  copy_layout(layout, "v1", "models/phi:v1", "--preserve-digests");  // as oras pushes them
  std::string out = work_.path + "/weights";
  auto pulled = pull_image(ref("models/phi:v1"), opts_, {.dest_dir = out, .prefix = ""});
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->files,
            (std::vector<std::string>{"config.json", "model.safetensors", "notes.gz"}));
  EXPECT_EQ(read_file(out + "/notes.gz"), *gz);
  EXPECT_EQ(read_file(out + "/config.json"), R"({"model_type":"phi3"})");
  EXPECT_EQ(read_file(out + "/model.safetensors"), std::string(5000, '\x07'));

  // A title that climbs out is refused.
  std::string bad = work_.path + "/bad-title";
  fs::create_directories(bad + "/blobs/sha256");
  json climb = blob(bad, "application/vnd.kaito.weights", "x");
  climb["annotations"] = {{"org.opencontainers.image.title", "../escape"}};
  single_image_layout(bad, "v1", json::array({climb}));
  copy_layout(bad, "v1", "models/bad:v1", "--preserve-digests");
  auto refused = pull_image(ref("models/bad:v1"), opts_, {.dest_dir = work_.path + "/w2"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), status_code::invalid_argument);
  EXPECT_FALSE(fs::exists(work_.path + "/escape"));
}

TEST_F(OciPull, LayerEntryWithDotDotIsRefused) {
  if (!fs::exists(testing::skopeo_bin)) GTEST_SKIP() << "no " << testing::skopeo_bin;
  ASSERT_TRUE(registry_.start(reg_.path));
  std::string layout = work_.path + "/evil";
  fs::create_directories(layout + "/blobs/sha256");
  auto tar = write_tar(
      {{"data/ok.txt", false, 0644, "fine"}, {"data/../../escape.txt", false, 0644, "no"}});
  ASSERT_TRUE(tar.ok());
  auto gz = gzip_bytes(*tar);
  ASSERT_TRUE(gz.ok());
  single_image_layout(layout, "v1", json::array({blob(layout, oci_layer_media_type, *gz)}));
  copy_layout(layout, "v1", "x/evil:v1");
  std::string out = work_.path + "/mnt/data";
  auto r = pull_image(ref("x/evil:v1"), opts_, {.dest_dir = out});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::invalid_argument) << r.error().to_string();
  EXPECT_NE(r.error().where().find("data/../../escape.txt"), std::string::npos)
      << r.error().to_string();
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(work_.path + "/escape.txt"));
  EXPECT_FALSE(fs::exists(work_.path + "/mnt/escape.txt"));
}

}  // namespace
}  // namespace kaito::k8s::artifacts
