// oci_pull: reads an image from a registry over the OCI Distribution API, what Kaito's `puller`
// init container does with `skopeo copy` and untar for tuning.input.image and
// inference.adapters[].source.image (both images hold their files under /data).
//
//   auto ref = parse_image_reference(adapter["source"]["image"], "inference.adapters[0]...");
//   auto img = pull_image(*ref, {.credentials = *creds}, 1ull << 30);
//   write_image_dir(*img, "data/", "/mnt/adapter/" + name);
//
// Steps: GET /v2/<repo>/manifests/<digest or tag> accepting OCI and Docker v2 manifests and
// indexes. An index (manifest list) picks the linux/amd64 entry, or its only entry, and that
// manifest is fetched by digest. Then each layer blob, in order: GET /v2/<repo>/blobs/<digest>
// (redirects followed; the Authorization is not sent to another host). Every manifest fetched by
// digest and every blob is checked against its sha256 digest (and the size the manifest gives).
// Layers are tars, gzipped or not (OCI tar / tar+gzip, Docker rootfs.diff.tar.gzip; other media
// types are refused by name), applied in order onto one file map: later files replace earlier
// ones, an AUFS whiteout ".wh.<name>" removes <name> (and what is under it) and ".wh..wh..opq"
// empties its directory. Auth, retries and cancellation are registry_session's, with the token
// scope repository:<repo>:pull.
//
// Errors name the step and URL: "pull manifest: GET http://127.0.0.1:5000/v2/x/manifests/v9:
// 404 MANIFEST_UNKNOWN: manifest unknown" (not_found); "manifest: layers[0].digest: not a
// string" (invalid_argument); data_loss "blob sha256:...: the registry sent sha256:..." for a
// digest mismatch; resource_exhausted when the layers' files pass max_bytes; unimplemented for a
// digest algorithm other than sha256 or an unknown layer media type.
// Thread-safety: pull_image may run on any thread; options are read only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "k8s/artifacts/image_reference.h"
#include "k8s/artifacts/registry_session.h"

namespace kaito::k8s::artifacts {

struct oci_descriptor {
  std::string media_type, digest;
  int64_t size = -1;  // -1: not given
};

// A manifest's or an index's JSON as the pull reads it.
struct oci_manifest {
  std::string media_type;  // the body's mediaType, else the Content-Type without parameters
  bool index = false;      // an OCI image index or a Docker manifest list
  std::vector<oci_descriptor> entries;  // an index's manifests[], a manifest's layers[]
  std::vector<std::string> platforms;   // an index's "os/architecture" per entry
  std::map<std::string, std::string> annotations;  // string values only
};

// invalid_argument naming the field: "manifest: layers[0].digest: not a string".
result<oci_manifest> parse_manifest(std::string_view body, std::string_view content_type);
// The linux/amd64 entry of an index, else its only entry; not_found listing the platforms.
result<oci_descriptor> pick_platform(const oci_manifest& index);

struct pulled_image {
  std::string manifest_digest;                     // of the image manifest (not the index)
  std::map<std::string, std::string> annotations;  // the manifest's
  std::map<std::string, std::string> files;        // regular files, "data/x" -> bytes
};

// The image's files; max_bytes bounds the layer blobs and the files in them, added together.
result<pulled_image> pull_image(const image_reference& ref, const registry_options& o,
                                uint64_t max_bytes);

// Writes the files under `prefix` ("data/") into dest_dir (created, with parents), at their
// paths below prefix; returns the paths written, relative to dest_dir. not_found when the image
// has no file under prefix ("the image has no files under /data"); invalid_argument naming a path
// with a "." or ".." component; io_error naming a file that cannot be written.
result<std::vector<std::string>> write_image_dir(const pulled_image& img, std::string_view prefix,
                                                 const std::string& dest_dir);

}  // namespace kaito::k8s::artifacts
