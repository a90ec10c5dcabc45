// The Endpoints controller; see endpoints_controller.h.
#include "k8s/controllers/endpoints_controller.h"

#include <algorithm>
#include <map>

#include "k8s/client/api_error.h"
#include "k8s/controllers/endpoint_slices.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/pod_status.h"

namespace kaito::k8s::controllers {

namespace {

label_map string_map(const json& m) {
  label_map out;
  if (!m.is_object()) return out;
  for (auto it = m.begin(); it != m.end(); ++it)
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  return out;
}

label_map selector_of(const json& service) {
  return string_map(member(member(service, "spec"), "selector"));
}

bool selects(const label_map& selector, const json& pod) {
  if (selector.empty() || !pod.is_object()) return false;
  label_map labels = string_map(member(member(pod, "metadata"), "labels"));
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

bool pod_in_endpoints(const json& pod, bool include_terminating) {
  if (string_field(member(pod, "status"), "podIP").empty()) return false;
  if (!include_terminating && deleting(pod)) return false;
  std::string policy = string_field(member(pod, "spec"), "restartPolicy");
  std::string phase = pod_phase(pod);
  if (policy == "Never") return phase != "Failed" && phase != "Succeeded";
  if (policy == "OnFailure") return phase != "Succeeded";
  return true;
}

namespace {

// podutil.FindPort: the service port's targetPort in the pod (-1: the pod has no such port).
int64_t find_port(const json& pod, const json& service_port) {
  const json& target = member(service_port, "targetPort");
  if (target.is_number_integer()) return target.get<int64_t>();
  if (target.is_string()) {
    const std::string want = target.get<std::string>();
    if (!want.empty() && want.find_first_not_of("0123456789") == std::string::npos &&
        want.size() < 6)
      return std::stoll(want);
    for (const auto& c : member(member(pod, "spec"), "containers"))
      for (const auto& p : member(c, "ports"))
        if (string_field(p, "name") == want && member(p, "containerPort").is_number_integer())
          return member(p, "containerPort").get<int64_t>();
    return -1;
  }
  const json& port = member(service_port, "port");
  return port.is_number_integer() ? port.get<int64_t>() : -1;
}

json address_of(const json& pod) {
  json a = pod_endpoint_refs(pod);
  a["ip"] = string_field(member(pod, "status"), "podIP");
  return a;
}

bool address_less(const json& a, const json& b) {
  std::string ai = a.value("ip", ""), bi = b.value("ip", "");
  if (ai != bi) return ai < bi;
  return a["targetRef"].value("name", "") < b["targetRef"].value("name", "");
}

json desired_labels(const json& service) {
  json labels = object_member(member(service, "metadata"), "labels");
  if (string_field(member(service, "spec"), "clusterIP") == "None")
    labels["service.kubernetes.io/headless"] = "";
  return labels;
}

// The Endpoints object: created, updated when it differs, or deleted (service null).
status converge_endpoints(const controller_env& env, const std::optional<json>& current,
                          const std::string& ns, const std::string& name, const json* service,
                          const std::vector<json>& pods) {
  if (!service) {
    if (!current) return {};
    auto d = env.client->remove(resources::kEndpoints, ns, name);
    if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
    return {};
  }
  json subsets = desired_endpoint_subsets(*service, pods);
  json labels = desired_labels(*service);
  if (!current) {
    json ep = {{"apiVersion", "v1"},
               {"kind", "Endpoints"},
               {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
               {"subsets", subsets}};
    auto c = env.client->create(resources::kEndpoints, ns, ep);
    if (!c.ok() && c.error().code() != status_code::already_exists) return c.error();
    return {};
  }
  const json& have = *current;
  json have_subsets = member(have, "subsets").is_array() ? member(have, "subsets") : json::array();
  if (have_subsets == subsets && object_member(member(have, "metadata"), "labels") == labels)
    return {};
  json next = have;
  next["subsets"] = subsets;
  next["metadata"]["labels"] = labels;
  auto u = env.client->update(resources::kEndpoints, ns, next);
  if (!u.ok() && u.error().code() != status_code::not_found) return u.error();
  return {};
}

result<reconcile_result> reconcile_endpoints_impl(const controller_env& env, const std::string& ns,
                                                  const std::string& name) {
  reader_ref ref(env.reader, env.client);
  object_reader& r = *ref;
  auto svc = r.get(resources::kServices, ns, name);
  if (!svc.ok()) return svc.error();
  auto current = r.get(resources::kEndpoints, ns, name);
  if (!current.ok()) return current.error();
  if (!*svc) {  // left over: its Endpoints and this controller's slices go
    KAITO_TRY(converge_endpoints(env, *current, ns, name, nullptr, {}));
    KAITO_TRY(converge_endpoint_slices(env, r, ns, name, {}));
    return reconcile_result{};
  }
  label_map selector = selector_of(**svc);
  if (selector.empty()) return reconcile_result{};
  auto pods = r.list(resources::kPods, ns, list_query{selector, ""});
  if (!pods.ok()) return pods.error();
  KAITO_TRY(converge_endpoints(env, *current, ns, name, &**svc, *pods));
  KAITO_TRY(converge_endpoint_slices(env, r, ns, name, desired_endpoint_slices(**svc, *pods)));
  return reconcile_result{};
}

}  // namespace

json pod_endpoint_ports(const json& service, const json& pod) {
  const json& spec = member(service, "spec");
  const json& ports = member(spec, "ports");
  json out = json::array();
  const int64_t offset = host_port_offset(pod);
  if (ports.is_array()) {
    for (const auto& sp : ports) {
      int64_t port = find_port(pod, sp);
      if (port < 0) continue;
      port += offset;
      if (port < 1 || port > 65535) continue;
      json p = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
      if (!string_field(sp, "name").empty()) p["name"] = string_field(sp, "name");
      out.push_back(p);
    }
  }
  const bool portless_headless =
      string_field(spec, "clusterIP") == "None" && (!ports.is_array() || ports.empty());
  if (out.empty() && !portless_headless) return json();
  std::sort(out.begin(), out.end(),
            [](const json& a, const json& b) { return a.value("name", "") < b.value("name", ""); });
  return out;
}

json pod_endpoint_refs(const json& pod) {
  json r = {{"targetRef",
             {{"kind", "Pod"},
              {"namespace", meta_string(pod, "namespace")},
              {"name", meta_string(pod, "name")},
              {"uid", meta_string(pod, "uid")}}}};
  std::string node = string_field(member(pod, "spec"), "nodeName");
  if (!node.empty()) r["nodeName"] = node;
  return r;
}

json desired_endpoint_subsets(const json& service, const std::vector<json>& pods) {
  const bool publish_not_ready =
      member(member(service, "spec"), "publishNotReadyAddresses") == json(true);
  // Pods with the same resolved ports share one subset: key = the ports' dump.
  std::map<std::string, json> by_ports;
  for (const auto& pod : pods) {
    if (!pod_in_endpoints(pod, publish_not_ready)) continue;
    json pod_ports = pod_endpoint_ports(service, pod);
    if (pod_ports.is_null()) continue;
    json& subset = by_ports[pod_ports.dump()];
    if (subset.is_null()) subset = {{"addresses", json::array()}, {"ports", pod_ports}};
    bool ready = publish_not_ready || pod_ready(pod);
    const char* list = ready ? "addresses" : "notReadyAddresses";
    if (!subset.contains(list)) subset[list] = json::array();
    subset[list].push_back(address_of(pod));
  }
  json out = json::array();
  for (auto& [key, subset] : by_ports) {
    for (const char* list : {"addresses", "notReadyAddresses"}) {
      if (!subset.contains(list)) continue;
      std::sort(subset[list].begin(), subset[list].end(), address_less);
    }
    if (subset["addresses"].empty()) subset.erase("addresses");
    if (subset["ports"].empty()) subset.erase("ports");
    out.push_back(std::move(subset));
  }
  return out;
}

std::vector<std::string> endpoints_keys_for(const json& old_pod, const json& pod,
                                            const std::vector<json>& services) {
  std::vector<std::string> keys;
  const json& any = pod.is_object() ? pod : old_pod;
  const std::string ns = meta_string(any, "namespace");
  for (const auto& s : services) {
    if (meta_string(s, "namespace") != ns) continue;
    label_map selector = selector_of(s);
    if (selects(selector, old_pod) || selects(selector, pod))
      keys.push_back(make_key(ns, meta_string(s, "name")));
  }
  return keys;
}

result<reconcile_result> reconcile_endpoints(const controller_env& env, const std::string& ns,
                                             const std::string& name) {
  return guard_json("service " + ns + "/" + name,
                    [&] { return reconcile_endpoints_impl(env, ns, name); });
}

}  // namespace kaito::k8s::controllers
