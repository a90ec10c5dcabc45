// One HTTP/1.1 connection to the API server, plain TCP or TLS (the server certificate verified
// against the configured CA and the host name or IP), synchronous with a deadline on every
// operation. Used by client (pooled, keep-alive) and by watches (one connection each, streaming).
//
//   auto c = connection::open(ep, 5s);
//   auto r = c->round_trip(req, 10s);             // whole response
//   c->start_stream(req, 10s); c->read_some(...); // chunked body as it arrives
//   c->cancel();                                  // from any thread: aborts the pending operation
//
// Thread-safety: one thread drives a connection; cancel() may be called from any other.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <boost/beast/http.hpp>

#include "base/status.h"
#include "k8s/client/kubeconfig.h"

namespace kaito::k8s {

struct endpoint {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string ca_pem;
  bool insecure = false;
};
result<endpoint> endpoint_from(const rest_config& cfg);

struct http_reply {
  int code = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
};

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

class connection {
 public:
  static result<std::unique_ptr<connection>> open(const endpoint& ep,
                                                  std::chrono::milliseconds timeout);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  result<http_reply> round_trip(http_request& req, std::chrono::milliseconds timeout);

  // Streaming: sends req and reads the response header. A non-2xx answer is read whole into
  // the returned reply's body.
  result<http_reply> start_stream(http_request& req, std::chrono::milliseconds timeout);
  // Appends body bytes to `out` as they arrive. Returns false at the end of the body;
  // deadline_exceeded when nothing arrived in `timeout`; an error when the connection broke.
  result<bool> read_some(std::string& out, std::chrono::milliseconds timeout);

  void cancel();  // thread-safe
  bool cancelled() const { return cancelled_; }

 private:
  struct impl;
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace kaito::k8s
