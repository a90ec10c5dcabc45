// adapter_image: the image is reproducible (same files -> same bytes), its layer reads back, the
// config's diff_id is the sha256 of the gunzipped layer (checked by Python's gzip + hashlib), the
// tar entries are what Kaito's pusher writes (checked by Python's tarfile), and the reader names
// the offset of a corrupt archive.
#include "k8s/artifacts/adapter_image.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "k8s/artifacts/encoding.h"
#include "tests/k8s/artifacts/peers.h"

namespace kaito::k8s::artifacts {
namespace {

using testing::read_file;
using testing::run_command;
using testing::temp_dir;
using testing::write_file;

const std::string config_json = R"({"peft_type":"LORA","r":8,"lora_alpha":16})";

std::string fake_safetensors() {
  std::string bytes(8, '\0');  // a safetensors header length, then the header
  bytes[0] = 32;
  bytes += R"({"__metadata__":{"format":"pt"}})";
  for (int i = 0; i < 5000; ++i) bytes += static_cast<char>(i * 31 % 251);
  return bytes;
}

void write_adapter(const std::string& dir) {
  write_file(dir + "/adapter_config.json", config_json);
  write_file(dir + "/adapter_model.safetensors", fake_safetensors());
}

TEST(AdapterImage, ReproducibleAndReadsBack) {
  temp_dir a, b;
  write_adapter(a.path);
  write_adapter(b.path);
  write_file(b.path + "/fine_tuning_completed.txt", "done");  // other files are not packed
  auto x = build_adapter_image(a.path, "phi-3-mini-128k-instruct");
  ASSERT_TRUE(x.ok()) << x.error().to_string();
  auto y = build_adapter_image(b.path, "phi-3-mini-128k-instruct");
  ASSERT_TRUE(y.ok()) << y.error().to_string();
  EXPECT_EQ(x->layer.bytes, y->layer.bytes);
  EXPECT_EQ(x->config.bytes, y->config.bytes);
  EXPECT_EQ(x->manifest, y->manifest);
  EXPECT_EQ(x->manifest_digest, y->manifest_digest);
  EXPECT_EQ(x->manifest_digest, sha256_digest(x->manifest));
  EXPECT_EQ(x->layer.digest, sha256_digest(x->layer.bytes));
  EXPECT_EQ(x->config.digest, sha256_digest(x->config.bytes));
  // gzip header: magic, deflate, no flags (no name), mtime 0.
  ASSERT_GT(x->layer.bytes.size(), 10u);
  EXPECT_EQ(x->layer.bytes.substr(0, 4), std::string("\x1f\x8b\x08\x00", 4));
  EXPECT_EQ(x->layer.bytes.substr(4, 4), std::string(4, '\0'));

  auto files = testing::layer_files(x->layer.bytes, 1 << 20);
  ASSERT_TRUE(files.ok()) << files.error().to_string();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ(files->at("data/adapter_config.json"), config_json);
  EXPECT_EQ(files->at("data/adapter_model.safetensors"), fake_safetensors());

  auto other = build_adapter_image(a.path, "llama-3.1-8b-instruct");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->layer.digest, x->layer.digest);  // the model name is only in the manifest
  EXPECT_NE(other->manifest_digest, x->manifest_digest);
}

TEST(AdapterImage, ConfigAndManifest) {
  temp_dir d;
  write_adapter(d.path);
  auto img = build_adapter_image(d.path, "phi-3-mini-128k-instruct");
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->config.bytes.substr(0, 48), R"({"architecture":"amd64","os":"linux","rootfs":{")");
  auto config = nlohmann::json::parse(img->config.bytes);
  EXPECT_EQ(config["rootfs"]["type"], "layers");
  ASSERT_EQ(config["rootfs"]["diff_ids"].size(), 1u);
  EXPECT_FALSE(config.contains("created"));

  // diff_id = sha256 of the uncompressed tar, computed by Python.
  write_file(d.path + "/layer.tar.gz", img->layer.bytes);
  auto py = run_command(
      "python3 -c 'import gzip,hashlib,sys; "
      "print(\"sha256:\"+hashlib.sha256(gzip.decompress(open(sys.argv[1],\"rb\").read()))"
      ".hexdigest())' " +
      d.path + "/layer.tar.gz");
  ASSERT_EQ(py.exit_code, 0);
  EXPECT_EQ(py.out, config["rootfs"]["diff_ids"][0].get<std::string>() + "\n");

  // The tar as Python's tarfile lists it: name type mode mtime uid gid size.
  auto list = run_command(
      "python3 -c 'import tarfile,sys\n"
      "for m in tarfile.open(sys.argv[1]): print(m.name, m.type.decode(), oct(m.mode), m.mtime, "
      "m.uid, m.gid, m.size)' " +
      d.path + "/layer.tar.gz");
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.out,
            "data 5 0o755 0 0 0 0\n"
            "data/adapter_config.json 0 0o644 0 0 0 " +
                std::to_string(config_json.size()) +
                "\n"
                "data/adapter_model.safetensors 0 0o644 0 0 0 " +
                std::to_string(fake_safetensors().size()) + "\n");

  auto m = nlohmann::json::parse(img->manifest);
  EXPECT_EQ(m["schemaVersion"], 2);
  EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
  EXPECT_EQ(m["config"]["digest"], img->config.digest);
  EXPECT_EQ(m["config"]["size"], img->config.bytes.size());
  ASSERT_EQ(m["layers"].size(), 1u);
  EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(m["layers"][0]["digest"], img->layer.digest);
  EXPECT_EQ(m["layers"][0]["size"], img->layer.bytes.size());
  EXPECT_EQ(m["annotations"]["sh.kaito.model.name"], "phi-3-mini-128k-instruct");
  EXPECT_EQ(m["annotations"].size(), 1u);  // no org.opencontainers.image.created
}

TEST(AdapterImage, MissingFiles) {
  temp_dir d;
  write_file(d.path + "/adapter_config.json", config_json);
  auto img = build_adapter_image(d.path, "phi-3");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().code(), status_code::not_found);
  EXPECT_EQ(img.error().where(), d.path + "/adapter_model.safetensors");
  auto none = build_adapter_image(d.path + "/nope", "phi-3");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().where(), d.path + "/nope/adapter_config.json");
  write_adapter(d.path);
  EXPECT_EQ(build_adapter_image(d.path, "").error().code(), status_code::invalid_argument);
}

TEST(AdapterImage, ReaderRefusesCorruptAndOversized) {
  temp_dir d;
  write_adapter(d.path);
  auto img = build_adapter_image(d.path, "phi-3");
  ASSERT_TRUE(img.ok());
  auto big = testing::layer_files(img->layer.bytes, 1000);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), status_code::resource_exhausted);
  EXPECT_NE(big.error().where().find("adapter_model.safetensors"), std::string::npos);

  std::string truncated = img->layer.bytes.substr(0, img->layer.bytes.size() / 2);
  auto t = testing::layer_files(truncated, 1 << 20);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), status_code::data_loss);
  EXPECT_NE(t.error().where().find("tar byte "), std::string::npos) << t.error().to_string();

  auto garbage = testing::layer_files("this is not a tar archive at all", 1 << 20);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code(), status_code::data_loss);
}

}  // namespace
}  // namespace kaito::k8s::artifacts
