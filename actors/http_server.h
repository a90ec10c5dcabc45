// http_server: a small HTTP/1.1 server for the inference endpoints (`kaito serve`, an inference
// pod): plain HTTP on host:port, one thread per connection up to max_connections (beyond: 503),
// keep-alive, the same deadlines as the API server (k8s/client/timed_socket.h: idle keep-alive,
// whole request, each write), bodies over max_body_bytes answered 413, malformed requests 400.
//
//   auto srv = http_server::start({.host = "127.0.0.1", .port = 5000}, handler);
//   srv->port();  srv->stop();
//
// The handler answers with a whole body (reply.body) or streams: it calls reply.start_stream once
// (status + content type; chunked transfer, e.g. text/event-stream) and then write_chunk for each
// piece, which returns false once the client is gone. A handler that throws gets a 500.
// Thread-safety: start/stop from one thread; handlers run on connection threads, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace kaito::actors {

struct http_server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  size_t max_body_bytes = 8u << 20;
  int max_connections = 64;
  int idle_timeout_ms = 60000, request_timeout_ms = 30000, write_timeout_ms = 30000;
};

struct http_call {
  std::string method, target, path, query, content_type, body;
};

class http_reply {
 public:
  virtual ~http_reply() = default;
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Streaming: headers now, then chunks; false when the client is gone.
  virtual bool start_stream(int status, const std::string& content_type) = 0;
  virtual bool write_chunk(const std::string& data) = 0;
};

using http_handler = std::function<void(const http_call&, http_reply&)>;

class http_server {
 public:
  static result<std::unique_ptr<http_server>> start(const http_server_options& o,
                                                    http_handler handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  uint16_t port() const;
  // Graceful shutdown's first half: closes the listener and the idle keep-alive connections,
  // lets the requests being answered finish (their responses close their connections) and
  // waits for them up to `budget`; true when none is left. stop() then ends the rest. Called
  // again it only waits (after the engine cut the answers short, for their 503s to be sent).
  bool drain(std::chrono::milliseconds budget);
  void stop();  // idempotent; closes the listener and every connection, joins their threads

 private:
  struct impl;
  explicit http_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace kaito::actors
