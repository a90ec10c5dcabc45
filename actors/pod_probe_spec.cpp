// pod_probe_spec; see pod_probe_spec.h.
#include "actors/pod_probe_spec.h"

#include <algorithm>
#include <limits>

#include "k8s/client/api_error.h"

namespace kaito::actors {

namespace {

using json = nlohmann::json;
using k8s::string_field;

int32_t int_field(const json& o, const char* key, int32_t fallback) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return fallback;
  int64_t v = it->get<int64_t>();
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    return fallback;
  return static_cast<int32_t>(v);
}

// The port of an action: a number, a numeric string, or the name of one of the container's
// ports. Empty: the why.
std::string resolve_port(const json& action, const json& container, int32_t& port) {
  auto it = action.find("port");
  if (it == action.end()) return "port is required";
  if (it->is_number_integer()) {
    port = static_cast<int32_t>(std::clamp<int64_t>(it->get<int64_t>(), 0, 65536));
    return "";
  }
  if (!it->is_string()) return "port must be a number or a port name";
  std::string name = it->get<std::string>();
  auto ports = container.find("ports");
  if (ports != container.end() && ports->is_array())
    for (const auto& p : *ports)
      if (p.is_object() && string_field(p, "name") == name) {
        port = int_field(p, "containerPort", 0);
        return "";
      }
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
      name.size() < 6) {
    port = std::stoi(name);
    return "";
  }
  return "port \"" + name + "\": the container declares no port of that name";
}

msg::probe_spec probe_of(const json& container, const char* field,
                         std::vector<std::string>& not_run) {
  msg::probe_spec s;
  auto it = container.find(field);
  if (it == container.end() || !it->is_object()) return s;
  const json& p = *it;
  s.initial_delay_s = int_field(p, "initialDelaySeconds", 0);
  s.period_s = int_field(p, "periodSeconds", 10);
  s.timeout_s = int_field(p, "timeoutSeconds", 1);
  s.success_threshold = int_field(p, "successThreshold", 1);
  s.failure_threshold = int_field(p, "failureThreshold", 3);
  const std::string where = field;
  if (where != "readinessProbe") {  // (a failed readiness probe stops nothing)
    const int32_t grace = int_field(p, "terminationGracePeriodSeconds", -1);
    if (grace >= 0) s.termination_grace_ms = int64_t(grace) * 1000;
  }
  std::string why;
  if (auto h = p.find("httpGet"); h != p.end() && h->is_object()) {
    s.action = "http";
    s.path = string_field(*h, "path");
    if (s.path.empty()) s.path = "/";
    s.host = string_field(*h, "host");
    s.scheme = string_field(*h, "scheme");
    if (s.scheme.empty()) s.scheme = "HTTP";
    if (auto hs = h->find("httpHeaders"); hs != h->end() && hs->is_array())
      for (const auto& kv : *hs)
        if (kv.is_object() && !string_field(kv, "name").empty())
          s.headers.push_back({string_field(kv, "name"), string_field(kv, "value")});
    why = resolve_port(*h, container, s.port);
  } else if (auto t = p.find("tcpSocket"); t != p.end() && t->is_object()) {
    s.action = "tcp";
    s.host = string_field(*t, "host");
    why = resolve_port(*t, container, s.port);
  } else if (p.contains("exec")) {
    why = "exec probes are not run by kaito's machines (httpGet and tcpSocket are)";
  } else if (p.contains("grpc")) {
    why = "grpc probes are not run by kaito's machines (httpGet and tcpSocket are)";
  } else {
    why = "no httpGet or tcpSocket action";
  }
  if (!why.empty()) {
    not_run.push_back(where + ": " + why);
    s.action.clear();
  }
  return s;
}

}  // namespace

container_probes probes_of(const json& container) {
  container_probes c;
  if (!container.is_object()) return c;
  c.startup = probe_of(container, "startupProbe", c.not_run);
  c.liveness = probe_of(container, "livenessProbe", c.not_run);
  c.readiness = probe_of(container, "readinessProbe", c.not_run);
  return c;
}

}  // namespace kaito::actors
