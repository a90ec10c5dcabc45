// adapter_image: Kaito's adapter image (pkg/workspace/image, the oras `pusher` sidecar), built in
// memory and byte-for-byte reproducible.
//
//   auto img = build_adapter_image("/mnt/results", "phi-3-mini-128k-instruct");
//   push_image(*parse_image_reference(...), *img, opts);        // oci_push.h
//
// The image: one gzip layer, a tar of
//     data/                              directory, mode 0755
//     data/adapter_config.json           mode 0644
//     data/adapter_model.safetensors     mode 0644
// (mtime 0, uid/gid 0; gzip header without a timestamp), an image config
//     {"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:<tar>"]}}
// (application/vnd.oci.image.config.v1+json; diff_id = sha256 of the uncompressed tar) and an OCI
// image manifest (schemaVersion 2, application/vnd.oci.image.manifest.v1+json, the layer as
// application/vnd.oci.image.layer.v1.tar+gzip) annotated "sh.kaito.model.name": <model name>.
// No creation time anywhere: the same files and model name give the same blobs, manifest and
// manifest digest. The same format is what inference.adapters[].source.image pulls (oci_pull.h).
//
// Thread-safety: pure functions of their inputs (build_adapter_image reads two files).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s::artifacts {

inline constexpr const char* oci_manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* oci_config_media_type = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* oci_layer_media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* model_name_annotation = "sh.kaito.model.name";

struct oci_blob {
  std::string media_type, digest;  // digest: "sha256:<64 hex>" of bytes
  std::string bytes;
};

struct adapter_image {
  oci_blob layer, config;
  std::string manifest, manifest_digest;  // manifest JSON text and its sha256 digest
};

// Reads adapter_dir/adapter_config.json and adapter_dir/adapter_model.safetensors: not_found
// naming the missing file, io_error naming a file that cannot be read, invalid_argument when
// model_name is empty.
result<adapter_image> build_adapter_image(const std::string& adapter_dir,
                                          const std::string& model_name);

}  // namespace kaito::k8s::artifacts
