// Kaito's adapter image, reproducibly; see adapter_image.h.
#include "k8s/artifacts/adapter_image.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "k8s/artifacts/encoding.h"
#include "k8s/artifacts/layer_archive.h"

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

constexpr const char* adapter_files[] = {"adapter_config.json", "adapter_model.safetensors"};

result<std::string> read_whole_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return not_found("no adapter file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open adapter file", path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return io_error("cannot read adapter file", path.string());
  return bytes;
}

ordered_json descriptor(const oci_blob& b) {
  ordered_json d;
  d["mediaType"] = b.media_type;
  d["digest"] = b.digest;
  d["size"] = b.bytes.size();
  return d;
}

}  // namespace

result<adapter_image> build_adapter_image(const std::string& adapter_dir,
                                          const std::string& model_name) {
  if (model_name.empty()) return invalid_argument("model name is empty", "model_name");
  std::vector<tar_entry> entries;
  entries.push_back({"data/", true, 0755, {}});
  for (const char* name : adapter_files) {
    KAITO_ASSIGN_OR_RETURN(std::string bytes, read_whole_file(fs::path(adapter_dir) / name));
    entries.push_back({std::string("data/") + name, false, 0644, std::move(bytes)});
  }
  KAITO_ASSIGN_OR_RETURN(std::string tar, write_tar(entries));

  adapter_image img;
  img.layer.media_type = oci_layer_media_type;
  KAITO_ASSIGN_OR_RETURN(img.layer.bytes, gzip_bytes(tar));
  img.layer.digest = sha256_digest(img.layer.bytes);

  ordered_json config;
  config["architecture"] = "amd64";
  config["os"] = "linux";
  config["rootfs"]["type"] = "layers";
  config["rootfs"]["diff_ids"] = ordered_json::array({sha256_digest(tar)});
  img.config.media_type = oci_config_media_type;
  img.config.bytes = config.dump();
  img.config.digest = sha256_digest(img.config.bytes);

  ordered_json manifest;
  manifest["schemaVersion"] = 2;
  manifest["mediaType"] = oci_manifest_media_type;
  manifest["config"] = descriptor(img.config);
  manifest["layers"] = ordered_json::array({descriptor(img.layer)});
  manifest["annotations"][model_name_annotation] = model_name;
  // replace: a model name that is not UTF-8 must not throw (Kaito's names are ASCII).
  img.manifest = manifest.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  img.manifest_digest = sha256_digest(img.manifest);
  return img;
}

}  // namespace kaito::k8s::artifacts
