// layer_extract: one image layer (a tar file on disk, gzipped or not) applied onto a folder, as a
// container runtime unpacks a layer, but only the entries under one prefix ("data/": Kaito's
// adapter and dataset images keep their files in /data) (private to k8s/artifacts; oci_pull's).
//
//   uint64_t budget = 1ull << 30;
//   auto files = extract_layer("/mnt/data.pull/blob", "data/", "/mnt/data.pull/root", budget);
//
// Two passes over the file. The first applies the layer's whiteouts to what earlier layers left
// (OCI image spec): ".wh.<name>" removes <name> and what is under it, ".wh..wh..opq" empties its
// directory; so whiteouts never touch this layer's own files, wherever they sit in the tar. The
// second writes every regular file under prefix to dest_dir/<path below prefix> (mode 0644, data
// streamed, never held whole), replacing a file or directory already there, and creates
// directories. Symlinks, hard links and devices are skipped: nothing this writes can point out
// of dest_dir. Entry paths lose a leading "./" or "/"; a path under prefix with a "." or ".."
// component, or an empty one, is invalid_argument naming the entry.
// Errors: data_loss naming the tar byte offset and entry of a corrupt archive; resource_exhausted
// when the files written pass `budget` (which the call decreases by what it writes); io_error
// naming a file that cannot be written.
// Thread-safety: pure function of its inputs and the files it writes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::k8s::artifacts {

// The paths written, relative to dest_dir, in archive order.
result<std::vector<std::string>> extract_layer(const std::string& tar_path, std::string_view prefix,
                                               const std::string& dest_dir, uint64_t& budget);

// Whether p is a relative path whose every component is a name: no leading '/', and no empty,
// "." or ".." component (so it stays below whatever folder it is joined to).
bool safe_relative_path(std::string_view p);

// Whether a file starts like an uncompressed tar archive (the ustar magic at byte 257).
bool looks_like_tar(const std::string& path);

}  // namespace kaito::k8s::artifacts
