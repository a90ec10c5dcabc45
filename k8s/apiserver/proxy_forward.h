// Forwarding for the proxy subresource (service_proxy.cpp): one HTTP/1.1 exchange with a backend,
// relayed as kube-apiserver's UpgradeAwareHandler does (without upgrades).
//
// The request: the client's method and body; the path `path` ("" -> "/") percent-encoded again the
// way Go's URL.EscapedPath does, plus the raw query as received; the client's headers except the
// hop-by-hop ones (Connection and the headers it names, Keep-Alive, Transfer-Encoding, Upgrade,
// TE, Trailer, Proxy-*), Expect, Content-Length and Authorization (the API server's bearer token
// never reaches a workload); Host is IP:PORT and the client's address is appended to
// X-Forwarded-For. One connection per request (Connection: close).
//
// The answer: the backend's status code, Content-Type and end-to-end headers, and its body relayed
// chunk by chunk as it is read (Server-Sent Events reach the client incrementally). Answers without
// a body (HEAD, 204, 304) come back whole.
// Deadlines: connect 5 s; each wait for the backend (its response header, then between body
// bytes) up to 10 minutes (CPU generation is slow), checked every second against server stop and,
// while streaming, against the client leaving (the relay then ends and the backend connection is
// closed).
// Errors, as Kubernetes Status objects: cannot connect -> 503 `error trying to reach service:
// dial tcp IP:PORT: connect: connection refused` (Go's wording for the actual error); a malformed
// or missing response header -> 502 naming what was wrong; no response header in 10 minutes ->
// 504. A backend that breaks off mid-body (or goes quiet for 10 minutes) ends the relayed body
// there, without the final chunk, so the client sees the answer truncated. A client that hangs up
// while the backend has not answered yet is noticed within a second and the backend connection
// closed (the answer is a 502 nobody reads). With
// server_options::proxy_dial false nothing is dialed: 503 (the request fuzzer).
//
// Thread-safety: runs on the calling connection thread; nothing shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/context.h"

namespace kaito::k8s::apiserver {

struct proxy_target {
  std::string ip;  // IPv4 or IPv6 literal
  uint16_t port = 0;
};

// Where a pod's container ports answer (service_proxy.cpp): kaito-cpp runs pods as processes on
// the machine's network, so container port P is at ip:(P + offset), the offset being the pod's
// kaito.sh/host-port-offset annotation (decimal 0..65535; absent = 0).
struct pod_network {
  std::string ip;  // status.podIP
  int64_t offset = 0;
};

// Fills `out` from the pod object `pod` named `name`, or returns the error answer: 503 when the
// pod has no IP yet or an invalid offset annotation.
std::optional<api_response> pod_network_of(const json& pod, const std::string& name,
                                           pod_network& out);

// "10.0.0.1:80", "[fd00::1]:80".
std::string join_host_port(const std::string& ip, uint16_t port);

// Go's url.PathEscape for paths: keeps A-Z a-z 0-9 - _ . ~ and $ & + , / : ; = @, escapes the rest.
std::string escape_proxy_path(const std::string& path);

api_response forward_to(api_context& ctx, const api_request& req, const proxy_target& target,
                        const std::string& path);

}  // namespace kaito::k8s::apiserver
