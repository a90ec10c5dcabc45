// oci_push against a real registry (/usr/bin/docker-registry on 127.0.0.1, started by the test),
// read back by a real client (skopeo inspect / skopeo copy): the manifest, the annotation, the
// layer's files. The htpasswd variant checks Basic auth, a wrong password (401) and no
// credentials. Skipped when docker-registry is not installed.
#include "k8s/artifacts/oci_push.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/k8s/artifacts/peers.h"

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;
using testing::htpasswd_line;
using testing::read_file;
using testing::registry_bin;
using testing::run_command;
using testing::skopeo_bin;
using testing::temp_dir;
using testing::write_file;

class OciPush : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(registry_bin)) GTEST_SKIP() << "no " << registry_bin;
    write_file(adapter_.path + "/adapter_config.json", R"({"peft_type":"LORA","r":8})");
    std::string weights(200000, '\0');
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 7 % 253);
    write_file(adapter_.path + "/adapter_model.safetensors", weights);
    auto img = build_adapter_image(adapter_.path, "phi-3-mini-128k-instruct");
    ASSERT_TRUE(img.ok()) << img.error().to_string();
    img_ = *img;
    opts_.retry_delay = std::chrono::milliseconds(20);
    opts_.timeout = std::chrono::seconds(60);
  }

  // Starts docker-registry; with htpasswd auth when `htpasswd` is not empty.
  void start_registry(const std::string& htpasswd = "") {
    ASSERT_TRUE(registry_.start(reg_.path, htpasswd));
    port_ = registry_.port;
  }

  image_reference ref(const std::string& repo_tag) const {
    auto r = parse_image_reference("127.0.0.1:" + std::to_string(port_) + "/" + repo_tag, "ref");
    EXPECT_TRUE(r.ok());
    return *r;
  }

  testing::command_result skopeo(const std::string& args) const { return registry_.skopeo(args); }

  temp_dir adapter_, reg_;
  adapter_image img_;
  push_options opts_;
  int port_ = 0;
  testing::registry_peer registry_;
};

TEST_F(OciPush, PushedImageReadsBackWithSkopeo) {
  start_registry();
  auto digest = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_TRUE(digest.ok()) << digest.error().to_string() << read_file(reg_.path + "/registry.log");
  EXPECT_EQ(*digest, img_.manifest_digest);
  // Again (the blobs are there: HEAD 200), and under a second tag.
  auto again = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  ASSERT_TRUE(push_image(ref("kaito/adapter:v2"), img_, opts_).ok());

  if (!fs::exists(skopeo_bin)) GTEST_SKIP() << "no " << skopeo_bin << ": pushed, not read back";
  std::string image = "docker://127.0.0.1:" + std::to_string(port_) + "/kaito/adapter:v1";
  auto raw = skopeo("inspect --raw --tls-verify=false " + image);
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  auto manifest = nlohmann::json::parse(raw.out, nullptr, false);
  ASSERT_TRUE(manifest.is_object()) << raw.out;
  EXPECT_EQ(manifest, nlohmann::json::parse(img_.manifest));
  EXPECT_EQ(manifest["annotations"]["sh.kaito.model.name"], "phi-3-mini-128k-instruct");
  EXPECT_EQ(manifest["layers"][0]["digest"], img_.layer.digest);

  auto inspect = skopeo("inspect --tls-verify=false " + image);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out;
  auto info = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_TRUE(info.is_object()) << inspect.out;
  EXPECT_EQ(info["Digest"], img_.manifest_digest);
  ASSERT_EQ(info["Layers"].size(), 1u);
  EXPECT_EQ(info["Layers"][0], img_.layer.digest);
  EXPECT_EQ(info["Architecture"], "amd64");
  EXPECT_EQ(info["Os"], "linux");

  std::string copy_dir = reg_.path + "/copy";
  auto copy = skopeo("copy --insecure-policy --src-tls-verify=false " + image + " dir:" + copy_dir);
  ASSERT_EQ(copy.exit_code, 0) << copy.out;
  std::string layer = read_file(copy_dir + "/" + img_.layer.digest.substr(7));
  EXPECT_EQ(layer, img_.layer.bytes);
  auto files = testing::layer_files(layer, 1 << 24);
  ASSERT_TRUE(files.ok()) << files.error().to_string();
  EXPECT_EQ(files->at("data/adapter_config.json"),
            read_file(adapter_.path + "/adapter_config.json"));
  EXPECT_EQ(files->at("data/adapter_model.safetensors"),
            read_file(adapter_.path + "/adapter_model.safetensors"));
}

TEST_F(OciPush, HtpasswdBasicAuth) {
  std::string line = htpasswd_line();
  if (line.empty()) GTEST_SKIP() << "no bcrypt (python3 crypt/bcrypt or htpasswd)";
  start_registry(line);

  auto anonymous = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code(), status_code::unauthenticated);
  EXPECT_NE(anonymous.error().message().find("401"), std::string::npos);

  opts_.credentials = {"kaito", "wrong", ""};
  auto wrong = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), status_code::unauthenticated);
  std::string msg = wrong.error().message();
  EXPECT_NE(msg.find("401"), std::string::npos) << msg;
  EXPECT_NE(msg.find("http://127.0.0.1:" + std::to_string(port_) + "/v2/kaito/adapter/"),
            std::string::npos)
      << msg;

  opts_.credentials = {"kaito", "secret", ""};
  auto ok = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(*ok, img_.manifest_digest);

  if (!fs::exists(skopeo_bin)) return;
  std::string image = "docker://127.0.0.1:" + std::to_string(port_) + "/kaito/adapter:v1";
  auto inspect = skopeo("inspect --raw --tls-verify=false --creds kaito:secret " + image);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out;
  EXPECT_EQ(nlohmann::json::parse(inspect.out, nullptr, false),
            nlohmann::json::parse(img_.manifest));
  auto refused = skopeo("inspect --raw --tls-verify=false --creds kaito:wrong " + image);
  EXPECT_NE(refused.exit_code, 0);
}

TEST_F(OciPush, UnreachableRegistryAndCancel) {
  port_ = testing::free_port();  // nothing listens there
  opts_.attempts = 2;
  auto r = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::unavailable);
  EXPECT_NE(r.error().message().find("HEAD http://127.0.0.1:" + std::to_string(port_) +
                                     "/v2/kaito/adapter/blobs/" + img_.layer.digest),
            std::string::npos)
      << r.error().message();

  std::atomic<bool> cancel{true};
  opts_.cancel = &cancel;
  auto c = push_image(ref("kaito/adapter:v1"), img_, opts_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("cancelled"), std::string::npos) << c.error().message();
}

}  // namespace
}  // namespace kaito::k8s::artifacts
