// oci_pull: an image pulled from a registry over the OCI Distribution API onto a folder, what
// Kaito's `puller` init container does with `skopeo copy` and untar for tuning.input.image and
// inference.adapters[].source.image (both images hold their files under /data), and what
// `oras pull` does for file artifacts.
//
//   auto ref = parse_image_reference(adapter["source"]["image"], "inference.adapters[0]...");
//   auto r = pull_image(*ref, {.credentials = *creds}, {.dest_dir = "/mnt/adapter/a"});
//
// Steps: GET /v2/<repo>/manifests/<digest or tag> accepting OCI and Docker v2 manifests and
// indexes. An index (manifest list) picks the linux/amd64 entry, or its only entry, and that
// manifest is fetched by digest. Then each layer blob, in order: GET /v2/<repo>/blobs/<digest>
// (redirects followed; the Authorization is not sent to another host) streamed to a file, its
// sha256 and size checked as it arrives, so memory stays small whatever the image's size. Every
// manifest fetched by digest is checked against its digest too.
// Layers: a tar+gzip layer (OCI, Docker rootfs.diff.tar.gzip) or a plain-tar one (OCI or Docker
// media type, or none, with a ustar header) is applied with layer_extract.h: whiteouts, then its
// files under target.prefix written below it. Any other layer with an
// org.opencontainers.image.title annotation is a file artifact (oras push FILE, which labels raw
// files with the plain-tar type too) written as <title>. Anything else is unimplemented naming
// the layer.
// Staging: everything lands in <dest_dir>.pull/ first (blob files, then the tree) and moves into
// dest_dir (created; entries already there are replaced) only when every layer is in; a failed
// or cancelled pull removes <dest_dir>.pull and leaves dest_dir as it was. Auth, retries and
// cancellation are registry_session's, with the token scope repository:<repo>:pull.
//
// Errors name the step and URL: "pull manifest: GET http://127.0.0.1:5000/v2/x/manifests/v9:
// 404 MANIFEST_UNKNOWN: manifest unknown" (not_found); "manifest: layers[0].digest: not a
// string" (invalid_argument); data_loss "blob sha256:...: the registry sent sha256:..." for a
// digest mismatch; resource_exhausted when blobs and files pass max_bytes; not_found when no
// file landed ("the image has no files under /data"); unimplemented for a digest algorithm
// other than sha256 or a layer that is neither a tar nor a titled file.
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
  int64_t size = -1;                               // -1: not given
  std::map<std::string, std::string> annotations;  // string values only
};

// A manifest's or an index's JSON as the pull reads it.
struct oci_manifest {
  std::string media_type;  // the body's mediaType, else the Content-Type without parameters
  bool index = false;      // an OCI image index or a Docker manifest list
  std::vector<oci_descriptor> entries;             // an index's manifests[], a manifest's layers[]
  std::vector<std::string> platforms;              // an index's "os/architecture" per entry
  std::map<std::string, std::string> annotations;  // string values only
};

// invalid_argument naming the field: "manifest: layers[0].digest: not a string".
result<oci_manifest> parse_manifest(std::string_view body, std::string_view content_type);
// The linux/amd64 entry of an index, else its only entry; not_found listing the platforms.
result<oci_descriptor> pick_platform(const oci_manifest& index);

struct pull_target {
  std::string dest_dir;
  std::string prefix = "data/";      // tar layers: only the files under it, written below it
  uint64_t max_bytes = 64ull << 30;  // blobs and the files in them, added together
};

struct pull_result {
  std::string manifest_digest;                     // of the image manifest (not the index)
  std::map<std::string, std::string> annotations;  // the manifest's
  std::vector<std::string> files;                  // relative to dest_dir, sorted
};

result<pull_result> pull_image(const image_reference& ref, const registry_options& o,
                               const pull_target& target);

}  // namespace kaito::k8s::artifacts
