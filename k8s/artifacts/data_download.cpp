// Kaito's data-downloader in C++; see data_download.h.
#include "k8s/artifacts/data_download.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "k8s/artifacts/curl_session.h"

namespace kaito::k8s::artifacts {
namespace {

namespace fs = std::filesystem;

std::string url_field(size_t i) {
  return "input.urls[" + std::to_string(i) + "]";
}

// A FILE* that closes itself.
struct file_closer {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

// One attempt: GET url into part_path. The caller removes part_path when this fails.
status fetch_once(const std::string& url, const std::string& part_path, const download_options& o) {
  std::unique_ptr<std::FILE, file_closer> out(std::fopen(part_path.c_str(), "wb"));
  if (!out) return io_error("cannot create " + part_path);
  uint64_t written = 0;
  status sink_error;
  http_request rq;
  rq.url = url;
  rq.follow_redirects = true;
  rq.timeout = o.timeout;
  rq.cancel = o.cancel;
  rq.sink = [&](std::string_view chunk) {
    written += chunk.size();
    if (written > o.max_bytes) {
      sink_error = status(status_code::resource_exhausted,
                          "GET " + url + ": more than " + std::to_string(o.max_bytes) + " bytes");
      return false;
    }
    if (std::fwrite(chunk.data(), 1, chunk.size(), out.get()) != chunk.size()) {
      sink_error = io_error("cannot write " + part_path);
      return false;
    }
    return true;
  };
  auto rs = http_perform(rq);
  if (!sink_error.ok()) return sink_error;
  if (!rs.ok()) return rs.error();
  if (rs->status != 200) return http_status_error(rq, *rs);
  if (written == 0)
    return status(status_code::failed_precondition, "GET " + url + ": 200 with an empty body");
  if (std::fclose(out.release()) != 0) return io_error("cannot write " + part_path);
  return {};
}

bool retryable(const status& s) {
  return s.code() != status_code::resource_exhausted && s.code() != status_code::io_error &&
         s.code() != status_code::invalid_argument;
}

}  // namespace

result<std::string> url_file_name(std::string_view url, std::string_view field) {
  const std::string where(field);
  size_t scheme_end = url.find("://");
  std::string scheme(url.substr(0, scheme_end == std::string_view::npos ? 0 : scheme_end));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme_end == std::string_view::npos || (scheme != "http" && scheme != "https"))
    return invalid_argument(
        "URL \"" + std::string(url.substr(0, 300)) + "\" is not http:// or https://", where);
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  rest = rest.substr(0, rest.find('?'));
  size_t path_start = rest.find('/');
  if (rest.empty() || path_start == 0)
    return invalid_argument("URL \"" + std::string(url.substr(0, 300)) + "\" has no host", where);
  std::string name;
  if (path_start != std::string_view::npos) name = std::string(rest.substr(rest.rfind('/') + 1));
  if (name.empty() || name == "." || name == "..")
    return invalid_argument("URL \"" + std::string(url.substr(0, 300)) +
                                "\" names no file (its path must end in a file name)",
                            where);
  for (char c : name)
    if (c == '\0' || c == '\\')
      return invalid_argument(
          "URL \"" + std::string(url.substr(0, 300)) + "\" has an unusable file name", where);
  return name;
}

result<std::vector<std::string>> download_urls(const std::vector<std::string>& urls,
                                               const std::string& dir, const download_options& o) {
  std::vector<std::string> names;
  std::map<std::string, size_t> first_with_name;
  for (size_t i = 0; i < urls.size(); ++i) {
    KAITO_ASSIGN_OR_RETURN(std::string name, url_file_name(urls[i], url_field(i)));
    auto [it, fresh] = first_with_name.emplace(name, i);
    if (!fresh)
      return invalid_argument("same file name \"" + name + "\" as " + url_field(it->second) + " (" +
                                  urls[it->second] + ")",
                              url_field(i));
    names.push_back(std::move(name));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create directory " + dir + ": " + ec.message());

  std::vector<std::string> written;
  for (size_t i = 0; i < urls.size(); ++i) {
    std::string path = (fs::path(dir) / names[i]).string();
    std::string part = path + ".part";
    status last;
    int attempts = std::max(1, o.attempts);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (is_cancelled(o.cancel)) {
        last = status(status_code::unavailable, "GET " + urls[i] + ": cancelled");
        break;
      }
      last = fetch_once(urls[i], part, o);
      if (last.ok() || !retryable(last) || is_cancelled(o.cancel)) break;
      if (attempt < attempts && !sleep_unless_cancelled(o.retry_delay, o.cancel)) break;
    }
    if (last.ok()) {
      fs::rename(part, path, ec);
      if (ec) last = io_error("cannot rename " + part + " to " + path + ": " + ec.message());
    }
    if (!last.ok()) {
      fs::remove(part, ec);
      std::string msg = last.message();
      if (attempts > 1 && retryable(last) && !is_cancelled(o.cancel))
        msg += " (after " + std::to_string(attempts) + " attempts)";
      return status(last.code(), msg, url_field(i));
    }
    written.push_back(std::move(path));
  }
  return written;
}

}  // namespace kaito::k8s::artifacts
