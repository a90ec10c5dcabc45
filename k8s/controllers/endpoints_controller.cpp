// The Endpoints controller; see endpoints_controller.h.
#include "k8s/controllers/endpoints_controller.h"

#include <algorithm>
#include <map>

#include "k8s/client/api_error.h"
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

// kube's ShouldPodBeInEndpoints.
bool in_endpoints(const json& pod, bool include_terminating) {
  if (string_field(member(pod, "status"), "podIP").empty()) return false;
  if (!include_terminating && deleting(pod)) return false;
  std::string policy = string_field(member(pod, "spec"), "restartPolicy");
  std::string phase = pod_phase(pod);
  if (policy == "Never") return phase != "Failed" && phase != "Succeeded";
  if (policy == "OnFailure") return phase != "Succeeded";
  return true;
}

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
  json a = {{"ip", string_field(member(pod, "status"), "podIP")},
            {"targetRef",
             {{"kind", "Pod"},
              {"namespace", meta_string(pod, "namespace")},
              {"name", meta_string(pod, "name")},
              {"uid", meta_string(pod, "uid")}}}};
  std::string node = string_field(member(pod, "spec"), "nodeName");
  if (!node.empty()) a["nodeName"] = node;
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

result<reconcile_result> reconcile_endpoints_impl(const controller_env& env, const std::string& ns,
                                                  const std::string& name) {
  reader_ref ref(env.reader, env.client);
  object_reader& r = *ref;
  auto svc = r.get(resources::kServices, ns, name);
  if (!svc.ok()) return svc.error();
  auto current = r.get(resources::kEndpoints, ns, name);
  if (!current.ok()) return current.error();
  if (!*svc) {
    if (!*current) return reconcile_result{};
    auto d = env.client->remove(resources::kEndpoints, ns, name);
    if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
    return reconcile_result{};
  }
  label_map selector = selector_of(**svc);
  if (selector.empty()) return reconcile_result{};
  auto pods = r.list(resources::kPods, ns, list_query{selector, ""});
  if (!pods.ok()) return pods.error();
  json subsets = desired_endpoint_subsets(**svc, *pods);
  json labels = desired_labels(**svc);
  if (!*current) {
    json ep = {{"apiVersion", "v1"},
               {"kind", "Endpoints"},
               {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
               {"subsets", subsets}};
    auto c = env.client->create(resources::kEndpoints, ns, ep);
    if (!c.ok() && c.error().code() != status_code::already_exists) return c.error();
    return reconcile_result{};
  }
  const json& have = **current;
  json have_subsets = member(have, "subsets").is_array() ? member(have, "subsets") : json::array();
  if (have_subsets == subsets && object_member(member(have, "metadata"), "labels") == labels)
    return reconcile_result{};
  json next = have;
  next["subsets"] = subsets;
  next["metadata"]["labels"] = labels;
  auto u = env.client->update(resources::kEndpoints, ns, next);
  if (!u.ok() && u.error().code() != status_code::not_found) return u.error();
  return reconcile_result{};
}

}  // namespace

json desired_endpoint_subsets(const json& service, const std::vector<json>& pods) {
  const json& spec = member(service, "spec");
  const bool publish_not_ready = member(spec, "publishNotReadyAddresses") == json(true);
  const json& ports = member(spec, "ports");
  const bool headless = string_field(spec, "clusterIP") == "None";
  // Pods with the same resolved ports share one subset: key = the ports' dump.
  std::map<std::string, json> by_ports;
  for (const auto& pod : pods) {
    if (!in_endpoints(pod, publish_not_ready)) continue;
    json pod_ports = json::array();
    const int64_t offset = host_port_offset(pod);
    if (ports.is_array()) {
      for (const auto& sp : ports) {
        int64_t port = find_port(pod, sp);
        if (port < 0) continue;
        port += offset;
        if (port < 1 || port > 65535) continue;
        json p = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
        if (!string_field(sp, "name").empty()) p["name"] = string_field(sp, "name");
        pod_ports.push_back(p);
      }
    }
    if (pod_ports.empty() && !(headless && (!ports.is_array() || ports.empty()))) continue;
    std::sort(pod_ports.begin(), pod_ports.end(), [](const json& a, const json& b) {
      return a.value("name", "") < b.value("name", "");
    });
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
