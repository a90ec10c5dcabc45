// layer_archive: reproducible tar and gzip bytes for image layers (private to k8s/artifacts; the
// reader is layer_extract.h).
//
// write_tar: one ustar archive of the entries in the order given; every header has mtime 0,
// uid/gid 0 and no user/group names, so the same entries always give the same bytes. No block
// padding past the two end-of-archive records.
// gzip_bytes: one gzip member with no timestamp or file name in its header (libarchive's gzip
// filter with !timestamp), so equal input gives equal output.
// Errors: internal naming libarchive's message (these only fail on allocation or a libarchive bug).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::k8s::artifacts {

struct tar_entry {
  std::string path;  // "data/" for a directory, "data/adapter_config.json" for a file
  bool directory = false;
  int mode = 0644;    // permission bits
  std::string bytes;  // file contents; empty for a directory
};

result<std::string> write_tar(const std::vector<tar_entry>& entries);
result<std::string> gzip_bytes(std::string_view bytes);

}  // namespace kaito::k8s::artifacts
