// curl_session: one HTTP request over libcurl, the transport of oci_push and data_download
// and of the machine's container probes. One place for curl's initialisation, protocols, TLS,
// timeouts, cancellation, header collection and error text.
//
//   http_request rq{.method = "HEAD", .url = "http://127.0.0.1:5000/v2/x/blobs/sha256:..."};
//   auto rs = http_perform(rq);          // transport errors as status; any HTTP answer as a value
//   if (rs.ok() && rs->status != 200) return http_status_error(rq, *rs);
//
// Only http and https are spoken, also across redirects (CURLOPT_PROTOCOLS_STR /
// REDIR_PROTOCOLS_STR "http,https"); https verifies the peer (optionally against ca_file).
// Transport failures: unavailable ("GET URL: Couldn't connect to server"), deadline_exceeded
// (the request's timeout), unavailable "cancelled" when *cancel became true (checked by curl's
// progress callback), io_error when the sink refused bytes (the sink keeps its own reason).
// curl_global_init runs once per process (std::call_once).
// Thread-safety: http_perform may be called from any thread; each call has its own easy handle.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::k8s::artifacts {

struct http_request {
  std::string method = "GET";  // GET, HEAD, POST, PUT
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // POST/PUT body; must outlive the call
  bool follow_redirects = false;     // at most 10
  std::string ca_file;               // extra trust anchors for https; "" = system store
  bool verify_peer = true;  // false: https without certificate checks (the kubelet's probes)
  bool use_proxy = true;    // false: never through $http_proxy / $https_proxy
  std::chrono::milliseconds timeout{300000};  // the whole request
  const std::atomic<bool>* cancel = nullptr;
  // When set, the response body goes here chunk by chunk instead of into http_response::body;
  // returning false aborts the transfer.
  std::function<bool(std::string_view)> sink;
  uint64_t max_body = 16ull << 20;  // in-memory bodies beyond this abort (resource_exhausted)
};

struct http_response {
  long status = 0;
  std::string body;                            // empty when a sink took it
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string final_url;                       // after redirects
};

result<http_response> http_perform(const http_request& rq);

// "401 UNAUTHORIZED: authentication required" from a registry's {"errors":[{code,message}]}
// body, else "404" plus the first line of the body (at most 200 characters).
std::string describe_http_status(const http_response& rs);

// A status for an unwanted HTTP answer: "<METHOD> <URL>: <describe_http_status>", with the code
// mapped: 401 unauthenticated, 403 permission_denied, 404 not_found, 408/429/5xx unavailable
// (retryable), 400 invalid_argument, others failed_precondition.
status http_status_error(const http_request& rq, const http_response& rs);

// Percent-encodes everything but unreserved characters (curl_easy_escape).
std::string url_escape(std::string_view s);

// Sleeps for d, waking every 50 ms to look at *cancel; false when cancelled.
bool sleep_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>* cancel);

inline bool is_cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load();
}

}  // namespace kaito::k8s::artifacts
