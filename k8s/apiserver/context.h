// What every request handler needs: the store, the resource registry, the options, and the
// admission hook. One api_context lives as long as the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/resources.h"
#include "k8s/apiserver/store.h"

namespace kaito::k8s::apiserver {

// Admission: called before every create and update (not /status writes) with the object as it
// will be stored (and the live object on update). It may default fields in `obj` (mutating
// admission) and add warnings; return a response (a 422 or 400 Status) to refuse.
struct admission_request {
  const resource_def& def;
  const std::string& version;
  json& obj;
  const json* old;               // the live object on update
  store& db;                     // the server's store, for lookups
  std::string field_validation;  // the request's fieldValidation: Strict, Warn (default), Ignore
  std::vector<std::string> warnings;  // out: sent back as `Warning: 299 - "..."` headers
};
using admission_fn = std::function<std::optional<api_response>(admission_request& req)>;

struct server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (tests)
  std::string home;   // state dir: store.db, token, kubeconfig, logs/
  std::string token;  // bearer token; empty: read or create $home/token
  bool tls = false;   // HTTPS with $home/pki (a generated CA and server certificate)
  size_t max_body_bytes = 3 * 1024 * 1024;  // larger bodies get 413
  size_t watch_queue_limit = 1024;          // events buffered per watcher before it is dropped
  int bookmark_interval_ms = 30000;         // with allowWatchBookmarks=true
  int64_t compaction_window = 10000;        // events kept for watch replay
  // Slow and idle clients. A request (headers and body) must arrive within request_timeout_ms of
  // its first byte (else 408 and close); a keep-alive connection may idle idle_timeout_ms between
  // requests; one write may block write_timeout_ms (a stalled or dead peer, watches included).
  // Watch and log streams are exempt from the request timeout. Connections beyond
  // max_connections get 503 (plain HTTP) or are closed (TLS) at once.
  int request_timeout_ms = 30000;
  int idle_timeout_ms = 60000;
  int write_timeout_ms = 30000;
  int max_connections = 512;
  // false: services/pods NAME/proxy resolve their backend but answer 503 instead of dialing it
  // (the request fuzzer must not open connections).
  bool proxy_dial = true;
  admission_fn admit;  // optional
};

struct api_context {
  store& db;
  registry& reg;
  const server_options& opts;
  std::atomic<bool>& stopping;
  std::string host_port;  // "127.0.0.1:PORT" for discovery
};

}  // namespace kaito::k8s::apiserver
