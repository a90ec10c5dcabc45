// image_inputs: a pod's image inputs pulled onto the machine, what Kaito's `puller` init
// containers do (pkg/workspace/image/puller.sh: skopeo copy, untar, move /data): a tuning Job's
// tuning.input.image into /mnt/data and an inference pod's adapters into /mnt/adapter/<name>.
//
//   auto files = pull_image_data({.image = a.input_image, .field = "tuning.input.image",
//                                 .docker_configs = secrets, .dest_dir = data_dir}, &cancel);
//
// Credentials: the first docker config (the projected source.imagePullSecrets, in order) that
// lists the image's registry; none: anonymous. A config that cannot be read or parsed is an error
// naming it (the kubelet's projection put it there, so it should exist). The image's /data
// files (or an oras file artifact's titled files) are written under dest_dir (created), streamed
// through <dest_dir>.pull/ (k8s/artifacts/oci_pull.h: nothing lands unless all of it does); the
// image is at most max_bytes, blobs and files together.
// Errors name `field` (the Workspace field the image came from) as where(), and say what
// failed: "tuning.input.image: pull manifest: GET http://...: 404 MANIFEST_UNKNOWN: ...".
// Thread-safety: one call per thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::actors {

struct image_input {
  std::string image;                        // the reference, as the Workspace gives it
  std::string field;                        // "tuning.input.image", "inference.adapters[0]"
  std::vector<std::string> docker_configs;  // machine paths of .dockerconfigjson files
  std::string dest_dir;                     // where the image's /data goes
  std::string prefix = "data/";             // what of the image's file system ("": all of it)
  uint64_t max_bytes = 64ull << 30;
};

// The files written, as paths under dest_dir.
result<std::vector<std::string>> pull_image_data(const image_input& in,
                                                 const std::atomic<bool>* cancel);

// container_path under the unit's root folder (the pod's directory on the machine); the path
// itself when root is empty.
std::string under_root(const std::string& root, const std::string& container_path);

}  // namespace kaito::actors
