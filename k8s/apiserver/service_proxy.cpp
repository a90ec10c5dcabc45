// The proxy subresource of services and pods, as kube-apiserver serves it:
//   /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy[/PATH]
//   /api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy[/PATH]
// Any method; the request goes to one backend and its answer comes back as it arrives.
//
// Services (pkg/registry/core/service/storage ResourceLocation): a numeric PORT names the
// spec.ports entry with that `port` (none: 503 `no service port N found for service "NAME"`), a
// named PORT is taken as is, no PORT is the unnamed port "". The Endpoints object of the same
// name gives the backend: a random subset with ready addresses and a port of that name, a random
// address in it; address.ip:port.port. None: 503 `no endpoints available for service "NAME"`.
// Pods (pkg/registry/core/pod/strategy ResourceLocation): status.podIP (none yet: 503); no PORT is
// the first container port of the first container that has one (or 80); a named PORT is a
// spec.containers[*].ports[].name. kaito-cpp runs pods as processes on the machine's network, so
// a pod's ports are shifted: with the annotation kaito.sh/host-port-offset: "K" (decimal,
// 0..65535) the pod answers on PORT+K, and that is what is dialed (the Endpoints controller
// publishes the shifted ports already, so services need no shift here).
// SCHEME: "http" or none; https is refused (400). Bad NAME:PORT forms: 400 as kube words them.
//
// Forwarding (proxy_forward.cpp): see proxy_forward.h.
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/proxy_forward.h"

namespace kaito::k8s::apiserver {

namespace {

constexpr const char* kHostPortOffsetAnnotation = "kaito.sh/host-port-offset";

struct scheme_name_port {
  std::string scheme, name, port;
};

// utilnet.SplitSchemeNamePort: "name", "name:port" or "scheme:name:port"; scheme http, https or "".
std::optional<scheme_name_port> split_scheme_name_port(const std::string& id) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = id.find(':', start);
    parts.push_back(id.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  scheme_name_port out;
  if (parts.size() == 1) {
    out.name = parts[0];
  } else if (parts.size() == 2) {
    out.name = parts[0];
    out.port = parts[1];
  } else if (parts.size() == 3) {
    out.scheme = parts[0];
    out.name = parts[1];
    out.port = parts[2];
  } else {
    return std::nullopt;
  }
  if (out.name.empty() || (out.scheme != "" && out.scheme != "http" && out.scheme != "https"))
    return std::nullopt;
  return out;
}

// A decimal port of at most 9 digits; nullopt for names (and for longer numbers).
std::optional<int64_t> port_number(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoll(s);
}

const json& field(const json& j, const char* name) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  auto it = j.find(name);
  return it == j.end() ? null_json : *it;
}

std::string text(const json& j, const char* name) {
  const json& f = field(j, name);
  return f.is_string() ? f.get<std::string>() : std::string();
}

int64_t integer(const json& j, const char* name) {
  const json& f = field(j, name);
  return f.is_number_integer() ? f.get<int64_t>() : -1;
}

size_t pick(size_t n) {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

api_response unavailable(const std::string& message) {
  return error_response(503, "ServiceUnavailable", message);
}

// Fills `out` with the backend of service `name`, or returns the error answer.
std::optional<api_response> resolve_service(api_context& ctx, const object_request& o,
                                            const scheme_name_port& id, proxy_target& out) {
  auto svc = ctx.db.get({o.def->store_key(), o.r.ns, id.name});
  if (!svc.ok()) return not_found_error("", "services", id.name);
  std::string port_name = id.port;
  if (auto n = port_number(id.port)) {
    bool found = false;
    const json& ports = field(field(*svc, "spec"), "ports");
    if (ports.is_array())
      for (const auto& p : ports)
        if (integer(p, "port") == *n) {
          port_name = text(p, "name");
          found = true;
          break;
        }
    if (!found)
      return unavailable("no service port " + std::to_string(*n) + " found for service \"" +
                         id.name + "\"");
  }
  const std::string none = "no endpoints available for service \"" + id.name + "\"";
  auto eps = ctx.db.get({"endpoints", o.r.ns, id.name});
  if (!eps.ok()) return unavailable(none);
  const json& subsets = field(*eps, "subsets");
  if (!subsets.is_array() || subsets.empty()) return unavailable(none);
  size_t seed = pick(subsets.size());
  for (size_t i = 0; i < subsets.size(); ++i) {
    const json& ss = subsets[(seed + i) % subsets.size()];
    const json& addrs = field(ss, "addresses");
    const json& ports = field(ss, "ports");
    if (!addrs.is_array() || addrs.empty() || !ports.is_array()) continue;
    for (const auto& p : ports) {
      if (text(p, "name") != port_name) continue;
      int64_t port = integer(p, "port");
      std::string ip = text(addrs[pick(addrs.size())], "ip");
      if (ip.empty() || port < 1 || port > 65535) continue;
      out = {ip, static_cast<uint16_t>(port)};
      return std::nullopt;
    }
  }
  return unavailable(none);
}

// The pod's container port named or numbered `port` ("" = the first declared, else 80).
std::optional<int64_t> pod_port(const json& pod, const std::string& port) {
  if (auto n = port_number(port)) return *n;
  const json& containers = field(field(pod, "spec"), "containers");
  if (containers.is_array())
    for (const auto& c : containers) {
      const json& ports = field(c, "ports");
      if (!ports.is_array()) continue;
      for (const auto& p : ports)
        if (port.empty() || text(p, "name") == port) return integer(p, "containerPort");
    }
  if (port.empty()) return 80;
  return std::nullopt;
}

std::optional<api_response> resolve_pod(api_context& ctx, const object_request& o,
                                        const scheme_name_port& id, proxy_target& out) {
  auto pod = ctx.db.get({o.def->store_key(), o.r.ns, id.name});
  if (!pod.ok()) return not_found_error("", "pods", id.name);
  auto port = pod_port(*pod, id.port);
  if (!port)
    return bad_request("pod " + id.name + " has no container port named \"" + id.port + "\"");
  pod_network net;
  if (auto err = pod_network_of(*pod, id.name, net)) return err;
  if (*port < 1 || *port + net.offset > 65535)
    return bad_request(
        "invalid port " + std::to_string(*port) + " for pod " + id.name +
        (net.offset ? " (host port offset " + std::to_string(net.offset) + ")" : ""));
  out = {net.ip, static_cast<uint16_t>(*port + net.offset)};
  return std::nullopt;
}

}  // namespace

std::optional<api_response> pod_network_of(const json& pod, const std::string& name,
                                           pod_network& out) {
  std::string ip = text(field(pod, "status"), "podIP");
  if (ip.empty()) return unavailable("pod " + name + " has no IP address yet");
  int64_t offset = 0;
  std::string k = text(field(field(pod, "metadata"), "annotations"), kHostPortOffsetAnnotation);
  if (!k.empty()) {
    auto n = port_number(k);
    if (!n || *n > 65535)
      return unavailable("pod " + name + " has an invalid " + kHostPortOffsetAnnotation +
                         " annotation: \"" + k + "\"");
    offset = *n;
  }
  out = {ip, offset};
  return std::nullopt;
}

api_response handle_proxy(api_context& ctx, const object_request& o) {
  const bool is_pod = o.def->resource == "pods";
  auto id = split_scheme_name_port(o.r.name);
  if (!id)
    return bad_request(std::string("invalid ") + (is_pod ? "pod" : "service") + " request \"" +
                       o.r.name + "\"");
  if (id->scheme == "https")
    return bad_request("the https scheme is not supported by this server's proxy: use \"" +
                       id->name + (id->port.empty() ? "" : ":" + id->port) + "\"");
  proxy_target target;
  auto err = is_pod ? resolve_pod(ctx, o, *id, target) : resolve_service(ctx, o, *id, target);
  if (err) return std::move(*err);
  return forward_to(ctx, o.req, target, o.r.proxy_path);
}

}  // namespace kaito::k8s::apiserver
