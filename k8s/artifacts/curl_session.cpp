// One HTTP request over libcurl; see curl_session.h.
#include "k8s/artifacts/curl_session.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace kaito::k8s::artifacts {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct easy_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// What the callbacks see of one transfer.
struct transfer {
  const http_request* rq;
  http_response* rs;
  bool sink_refused = false;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t len = size * n;
  std::string_view chunk(data, len);
  if (t->rq->sink) {
    if (!t->rq->sink(chunk)) {
      t->sink_refused = true;
      return 0;
    }
    return len;
  }
  if (t->rs->body.size() + len > t->rq->max_body) {
    t->too_large = true;
    return 0;
  }
  t->rs->body.append(chunk);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {  // a new response (redirect, 100 Continue): start over
    t->rs->headers.clear();
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->rs->headers[name] = std::string(value);
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<transfer*>(user);
  return is_cancelled(t->rq->cancel) ? 1 : 0;
}

}  // namespace

result<http_response> http_perform(const http_request& rq) {
  init_curl_once();
  const std::string what = rq.method + " " + rq.url;
  if (is_cancelled(rq.cancel)) return status(status_code::unavailable, what + ": cancelled");
  std::unique_ptr<CURL, easy_deleter> curl(curl_easy_init());
  if (!curl) return internal_error(what + ": curl_easy_init failed");
  CURL* c = curl.get();

  http_response rs;
  transfer t{&rq, &rs};
  std::unique_ptr<curl_slist, slist_deleter> headers;
  for (const std::string& h : rq.headers)
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  if (rq.method == "POST" || rq.method == "PUT")
    headers.reset(curl_slist_append(headers.release(), "Expect:"));  // no 100-continue round trip

  curl_easy_setopt(c, CURLOPT_URL, rq.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, rq.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(rq.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<long long>(rq.timeout.count(), 30000)));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kaito-cpp");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (!rq.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, rq.ca_file.c_str());
  if (!rq.verify_peer) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!rq.use_proxy) curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  if (rq.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (rq.method == "POST" || rq.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq.body.empty() ? "" : rq.body.data());
    if (rq.method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (rq.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (rc == CURLE_ABORTED_BY_CALLBACK)
      return status(status_code::unavailable, what + ": cancelled");
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return status(status_code::deadline_exceeded,
                    what + ": timed out after " + std::to_string(rq.timeout.count()) + " ms");
    if (t.sink_refused) return io_error(what + ": transfer stopped by the receiver");
    if (t.too_large)
      return status(status_code::resource_exhausted,
                    what + ": response body over " + std::to_string(rq.max_body) + " bytes");
    if (rc == CURLE_UNSUPPORTED_PROTOCOL)
      return invalid_argument(what + ": " + curl_easy_strerror(rc) + " (only http and https)");
    return status(status_code::unavailable, what + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs.status);
  char* final_url = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &final_url);
  rs.final_url = final_url ? final_url : rq.url;
  return rs;
}

std::string describe_http_status(const http_response& rs) {
  std::string out = std::to_string(rs.status);
  auto doc = nlohmann::json::parse(rs.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty()) {
    std::string sep = " ";
    for (const auto& e : doc["errors"]) {
      if (!e.is_object()) continue;
      out += sep;
      if (e.contains("code") && e["code"].is_string()) out += e["code"].get<std::string>();
      if (e.contains("message") && e["message"].is_string())
        out += ": " + e["message"].get<std::string>();
      sep = "; ";
    }
    return out;
  }
  std::string line = rs.body.substr(0, rs.body.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  for (char& ch : line)
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
  if (!line.empty()) out += " " + line;
  return out;
}

status http_status_error(const http_request& rq, const http_response& rs) {
  std::string msg = rq.method + " " + rq.url + ": " + describe_http_status(rs);
  status_code code = status_code::failed_precondition;
  if (rs.status == 401)
    code = status_code::unauthenticated;
  else if (rs.status == 403)
    code = status_code::permission_denied;
  else if (rs.status == 404)
    code = status_code::not_found;
  else if (rs.status == 400)
    code = status_code::invalid_argument;
  else if (rs.status == 408 || rs.status == 429 || rs.status >= 500)
    code = status_code::unavailable;
  return status(code, std::move(msg));
}

std::string url_escape(std::string_view s) {
  init_curl_once();
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (e == nullptr) return std::string(s);
  std::string out(e);
  curl_free(e);
  return out;
}

bool sleep_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (is_cancelled(cancel)) return false;
    auto left = until - std::chrono::steady_clock::now();
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
  return !is_cancelled(cancel);
}

}  // namespace kaito::k8s::artifacts
