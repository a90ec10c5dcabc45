// The pods/NAME/portforward subresource, as kube-apiserver (PortForwardREST plus the kubelet's
// handler behind it) serves it to `kubectl port-forward`:
//   POST or GET /api/v1/namespaces/NS/pods/NAME/portforward   with an upgrade
//
// Two upgrades are accepted, the session inside being the same (port_forward_session.h):
//  - SPDY: `Connection: Upgrade`, `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version` values that
//    include portforward.k8s.io (none at all: accepted, as the kubelet does for old clients) ->
//    101 with `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version: portforward.k8s.io`; offered
//    versions without it -> 403 `unable to upgrade: unable to negotiate protocol: ...`.
//  - Websocket tunnel (kubectl 1.30+ tries it first): `Upgrade: websocket` with
//    `Sec-WebSocket-Protocol` offering SPDY/3.1+portforward.k8s.io -> 101 choosing it, then SPDY
//    inside binary messages (ws_tunnel.h). Other subprotocols -> 400, and kubectl falls back to
//    SPDY.
// Without an upgrade: 400 `Upgrade request required`; another method: 405. The pod must exist (404)
// and have status.podIP (503, as pods/proxy says it); its ports are shifted by the
// kaito.sh/host-port-offset annotation (proxy_forward.h, pod_network_of). Authentication happened
// already, as for every request.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/port_forward_session.h"
#include "k8s/apiserver/proxy_forward.h"
#include "k8s/apiserver/ws_tunnel.h"

namespace kaito::k8s::apiserver {

namespace {

constexpr const char* kProtocol = "portforward.k8s.io";
constexpr const char* kTunnelProtocol = "SPDY/3.1+portforward.k8s.io";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Every comma-separated value of every header `name` (case-insensitive name).
std::vector<std::string> header_values(const api_request& req, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : req.headers) {
    if (lower(k) != name) continue;
    size_t start = 0;
    for (;;) {
      size_t comma = v.find(',', start);
      std::string item = trim(v.substr(start, comma - start));
      if (!item.empty()) out.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

bool has_token(const std::vector<std::string>& values, const std::string& token) {
  return std::any_of(values.begin(), values.end(),
                     [&](const std::string& v) { return lower(v) == lower(token); });
}

std::string joined(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out + "]";
}

}  // namespace

api_response handle_port_forward(api_context& ctx, const object_request& o) {
  const api_request& req = o.req;
  if (req.method != "POST" && req.method != "GET") return method_not_allowed();
  const auto connection = header_values(req, "connection");
  const auto upgrade = header_values(req, "upgrade");
  if (!has_token(connection, "upgrade") || upgrade.empty())
    return bad_request("Upgrade request required");
  auto pod = ctx.db.get(o.key());
  if (!pod.ok()) return not_found_error("", "pods", o.r.name);
  pod_network net;
  if (auto err = pod_network_of(*pod, o.r.name, net)) return std::move(*err);
  forward_target target{o.r.name, net.ip, net.offset, ctx.opts.proxy_dial};

  api_response r;
  r.code = 101;
  r.content_type.clear();
  if (has_token(upgrade, "websocket")) {
    auto offered = header_values(req, "sec-websocket-protocol");
    auto key = header_values(req, "sec-websocket-key");
    if (!has_token(offered, kTunnelProtocol) || key.size() != 1)
      return bad_request(std::string("unable to upgrade: websocket subprotocols ") +
                         joined(offered) + " not supported; this server speaks " + kTunnelProtocol);
    r.headers = {{"Upgrade", "websocket"},
                 {"Connection", "Upgrade"},
                 {"Sec-WebSocket-Accept", websocket_accept(key[0])},
                 {"Sec-WebSocket-Protocol", kTunnelProtocol}};
    r.upgrade = [target](duplex_stream& conn) {
      ws_tunnel tunnel(conn);
      run_port_forward_session(tunnel, target);
    };
    return r;
  }
  if (!has_token(upgrade, "SPDY/3.1"))
    return bad_request("unable to upgrade: unsupported protocol " + joined(upgrade) +
                       " (this server speaks SPDY/3.1 and websocket)");
  auto versions = header_values(req, "x-stream-protocol-version");
  if (!versions.empty() && !has_token(versions, kProtocol)) {
    api_response e = error_response(403, "Forbidden",
                                    "unable to upgrade: unable to negotiate protocol: client "
                                    "supports " +
                                        joined(versions) + ", server accepts [" + kProtocol + "]");
    e.headers.emplace_back("X-Accepted-Stream-Protocol-Versions", kProtocol);
    return e;
  }
  r.headers = {
      {"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}, {"X-Stream-Protocol-Version", kProtocol}};
  r.upgrade = [target](duplex_stream& conn) { run_port_forward_session(conn, target); };
  return r;
}

}  // namespace kaito::k8s::apiserver
