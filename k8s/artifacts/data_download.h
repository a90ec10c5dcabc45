// data_download: a tuning Job's input URLs onto the data volume, what Kaito's `data-downloader`
// init container does (pkg/workspace/tuning/scripts/data-downloader.sh, curl -sSL
// --proto =http,https).
//
//   auto files = download_urls(ws.tuning.input.urls, "/mnt/data", {});
//
// Each URL i is saved as dir/<url_file_name(url)>: the URL path's last segment with the
// `?query` and `#fragment` removed (no percent-decoding). Names that are empty, "." or "..", or
// that two URLs share, are refused before anything is fetched. Only http and https are fetched,
// also across redirects (at most 10 followed). A download succeeds on HTTP 200 with a non-empty
// body; it is tried `attempts` times, retry_delay apart (Kaito: 3 times, 2 s apart), except when
// it is over max_bytes or cancelled. Bytes go to dir/<name>.part, renamed to dir/<name> on
// success and removed on failure, so a failed download leaves no file behind. dir is created if
// missing.
//
// Errors have where = "input.urls[i]" and name the URL and the HTTP status:
//   invalid_argument (scheme, file name, duplicates: "same file name \"x\" as input.urls[0]"),
//   not_found (404), unavailable (other statuses, connection errors), failed_precondition (empty
//   body), resource_exhausted (over max_bytes), deadline_exceeded (timeout), io_error (the file),
//   unavailable "cancelled".
// Thread-safety: download_urls may run on any thread; options are read only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::k8s::artifacts {

struct download_options {
  int attempts = 3;
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::seconds timeout{3600};  // per attempt
  uint64_t max_bytes = 64ull << 30;    // per file
  const std::atomic<bool>* cancel = nullptr;
};

// The written file paths (dir/<name>), in URL order.
result<std::vector<std::string>> download_urls(const std::vector<std::string>& urls,
                                               const std::string& dir, const download_options& o);

// The file name a URL downloads to; invalid_argument naming field for a URL that is not
// http(s)://host/... or whose name is empty, ".", ".." or otherwise unusable.
result<std::string> url_file_name(std::string_view url, std::string_view field);

}  // namespace kaito::k8s::artifacts
