// model_store: where a unit's model folder comes from. The folder rules and their errors, the
// {preset} template, and pulling a missing preset from a real registry (/usr/bin/docker-registry
// on 127.0.0.1, Basic auth when bcrypt is at hand) into the machine's models folder: the files
// land whole, four pods asking at once pull once, an image without config.json or a missing tag
// fails naming KAITO_MODEL_IMAGE and leaves no folder behind.
#include "actors/model_store.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "k8s/artifacts/adapter_image.h"
#include "k8s/artifacts/encoding.h"
#include "k8s/artifacts/layer_archive.h"
#include "k8s/artifacts/oci_push.h"
#include "tests/k8s/artifacts/peers.h"

namespace kaito::actors {
namespace {

namespace fs = std::filesystem;
namespace art = k8s::artifacts;
using art::testing::read_file;
using art::testing::temp_dir;
using art::testing::write_file;

// An image whose one layer holds `files` at the root of its file system (as a model image that
// is a plain container image does).
art::adapter_image image_of(const std::vector<art::tar_entry>& files) {
  art::adapter_image img;
  auto tar = art::write_tar(files);
  EXPECT_TRUE(tar.ok());
  auto gz = art::gzip_bytes(*tar);
  EXPECT_TRUE(gz.ok());
  img.layer = {art::oci_layer_media_type, art::sha256_digest(*gz), *gz};
  nlohmann::json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {art::sha256_digest(*tar)}}}}};
  std::string cfg = config.dump();
  img.config = {art::oci_config_media_type, art::sha256_digest(cfg), cfg};
  nlohmann::json m = {
      {"schemaVersion", 2},
      {"mediaType", art::oci_manifest_media_type},
      {"config",
       {{"mediaType", img.config.media_type}, {"digest", img.config.digest}, {"size", cfg.size()}}},
      {"layers",
       {{{"mediaType", img.layer.media_type},
         {"digest", img.layer.digest},
         {"size", img.layer.bytes.size()}}}}};
  img.manifest = m.dump();
  img.manifest_digest = art::sha256_digest(img.manifest);
  return img;
}

TEST(ModelStore, TemplateAndFolderRules) {
  EXPECT_EQ(model_image_for("r.io/kaito/kaito-{preset}:0.1.0", "phi-3"),
            "r.io/kaito/kaito-phi-3:0.1.0");
  EXPECT_EQ(model_image_for("r.io/{preset}/{preset}:1", "p"), "r.io/p/p:1");
  EXPECT_EQ(model_image_for("r.io/fixed:1", "p"), "r.io/fixed:1");

  temp_dir d;
  auto unset = preset_model_dir("phi-3", "", {});
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(unset.error().where(), "KAITO_MODELS_DIR");
  auto missing = preset_model_dir("phi-3", "", {.models_dir = d.path});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), status_code::failed_precondition);
  EXPECT_NE(missing.error().message().find("--model-image"), std::string::npos);
  auto flag = preset_model_dir("phi-3", d.path + "/x", {.models_dir = d.path});
  ASSERT_FALSE(flag.ok());
  EXPECT_EQ(flag.error().where(), "--model-dir");
  fs::create_directories(d.path + "/phi-3");
  write_file(d.path + "/phi-3/config.json", "{}");
  auto found = preset_model_dir("phi-3", "", {.models_dir = d.path, .image = "nowhere/{preset}:1"});
  ASSERT_TRUE(found.ok()) << found.error().to_string();
  EXPECT_EQ(*found, d.path + "/phi-3");  // there already: no pull
}

TEST(ModelStore, PullsAMissingPresetOnceForConcurrentPods) {
  if (!fs::exists(art::testing::registry_bin)) GTEST_SKIP() << "no docker-registry";
  temp_dir reg, models, cfg;
  art::testing::registry_peer registry;
  std::string htpasswd = art::testing::htpasswd_line();
  ASSERT_TRUE(registry.start(reg.path, htpasswd));
  art::registry_options push;
  model_source src{.models_dir = models.path + "/store",
                   .image = registry.host() + "/kaito/kaito-{preset}:0.0.1"};
  if (!htpasswd.empty()) {
    push.credentials = {"kaito", "secret", ""};
    src.docker_config = cfg.path + "/config.json";
    write_file(src.docker_config,
               R"({"auths":{")" + registry.host() + R"(":{"auth":"a2FpdG86c2VjcmV0"}}})");
  }
  auto ref = art::parse_image_reference(model_image_for(src.image, "tiny"), "ref");
  ASSERT_TRUE(ref.ok());
  const std::string weights(100000, '\x3c');
  ASSERT_TRUE(art::push_image(*ref,
                              image_of({{"config.json", false, 0644, R"({"model_type":"phi3"})"},
                                        {"model.safetensors", false, 0644, weights},
                                        {"tokenizer.json", false, 0644, "{}"}}),
                              push)
                  .ok());

  std::mutex mu;
  std::vector<std::string> notes;
  std::vector<result<std::string>> got(4, internal_error("not run"));
  std::vector<std::thread> pods;
  for (int i = 0; i < 4; ++i)
    pods.emplace_back([&, i] {
      got[i] = preset_model_dir("tiny", "", src, nullptr, [&](const std::string& n) {
        std::lock_guard<std::mutex> l(mu);
        notes.push_back(n);
      });
    });
  for (auto& t : pods) t.join();
  for (const auto& g : got) {
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    EXPECT_EQ(*g, src.models_dir + "/tiny");
  }
  ASSERT_EQ(notes.size(), 1u);  // one pull
  EXPECT_EQ(notes[0], "pulling " + ref->str() + " for tiny");
  EXPECT_EQ(read_file(src.models_dir + "/tiny/model.safetensors"), weights);
  EXPECT_EQ(read_file(src.models_dir + "/tiny/config.json"), R"({"model_type":"phi3"})");

  // A tag that is not there, and an image without config.json: named, nothing left behind.
  auto none = preset_model_dir("absent", "", src);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), status_code::not_found) << none.error().to_string();
  EXPECT_EQ(none.error().where().rfind("KAITO_MODEL_IMAGE", 0), 0u) << none.error().to_string();
  EXPECT_FALSE(fs::exists(src.models_dir + "/absent"));
  auto bad_ref = art::parse_image_reference(model_image_for(src.image, "noconfig"), "ref");
  ASSERT_TRUE(
      art::push_image(*bad_ref, image_of({{"README", false, 0644, "no model"}}), push).ok());
  auto no_config = preset_model_dir("noconfig", "", src);
  ASSERT_FALSE(no_config.ok());
  EXPECT_EQ(no_config.error().code(), status_code::failed_precondition);
  EXPECT_EQ(no_config.error().where(), "KAITO_MODEL_IMAGE");

  // Without the credentials the registry wants.
  if (!htpasswd.empty()) {
    model_source wrong = src;
    wrong.docker_config = "";
    auto anonymous = preset_model_dir("other", "", wrong);
    ASSERT_FALSE(anonymous.ok());
    EXPECT_EQ(anonymous.error().code(), status_code::unauthenticated);
  }
}

}  // namespace
}  // namespace kaito::actors
