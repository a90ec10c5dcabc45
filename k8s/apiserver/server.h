// The embedded API server: Boost.Beast HTTP/1.1 (HTTPS with a generated CA when opts.tls, which
// `kaito up` uses: kubectl sends bearer tokens only over TLS) on opts.host:opts.port, bearer-token
// auth, one thread per connection (watch streams hold their connection; the machine serves a
// handful of clients), state in $home/store.db. Slow, idle and excess clients are bounded by the
// request/idle/write timeouts and max_connections of server_options (timed_socket.h).
//
//   auto srv = api_server::start(opts);          // binds, opens the store, writes the kubeconfig
//   srv->port(); srv->url(); srv->token();
//   srv->stop();                                 // closes the listener and every connection
//
// Requests without `Authorization: Bearer <token>` get 401, except /version and the health probes
// (public, as on a real cluster). Bodies over opts.max_body_bytes get 413; unparsable requests 400.
// Handler bugs surface as 500 Status answers, never as a crash.
//
// Thread-safety: start/stop from one thread; handle() from any.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/status.h"
#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/context.h"

namespace kaito::k8s::apiserver {

class api_server {
 public:
  static result<std::unique_ptr<api_server>> start(server_options opts);
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  void stop();  // idempotent; waits for every connection thread
  uint16_t port() const;
  std::string url() const;            // https://127.0.0.1:PORT (opts.tls) or http://
  const std::string& ca_pem() const;  // the CA that signed the server certificate (TLS only)
  const std::string& token() const;
  const std::string& home() const;
  std::string kubeconfig_path() const;

  // Serves one request in-process, without authentication (installing CRDs at start, tests).
  api_response handle(const api_request& req);

  store& db();
  registry& reg();

 private:
  struct impl;
  explicit api_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace kaito::k8s::apiserver
