// Node lifecycle; see nodes.h.
#include "k8s/controllers/nodes.h"

#include <charconv>

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/events.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/wall_time.h"

namespace kaito::k8s::controllers {

namespace {

int64_t quantity_int(const json& obj, const char* section, const char* key, int64_t dflt) {
  if (!obj.is_object()) return dflt;
  auto st = obj.find("status");
  if (st == obj.end() || !st->is_object()) return dflt;
  auto sec = st->find(section);
  if (sec == st->end() || !sec->is_object()) return dflt;
  auto v = sec->find(key);
  if (v == sec->end()) return dflt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (!v->is_string()) return dflt;
  const std::string& s = v->get_ref<const std::string&>();
  int64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() ? out : dflt;
}

json node_status(const node_info& n, const std::string& now, const std::string& transition) {
  json res = {{"cpu", std::to_string(n.cpu_cores)},
              {"memory", std::to_string(n.memory_bytes / 1024) + "Ki"},
              {"pods", "110"},
              {kGpuResource, std::to_string(n.gpu_count)},
              {kWorkerSlots, std::to_string(n.worker_slots)}};
  json addresses = json::array({{{"type", "Hostname"}, {"address", n.name}}});
  if (!n.address.empty())
    addresses.insert(addresses.begin(), json{{"type", "InternalIP"}, {"address", n.address}});
  return {{"capacity", res},
          {"allocatable", res},
          {"addresses", addresses},
          {"nodeInfo",
           {{"architecture", "amd64"},
            {"operatingSystem", "linux"},
            {"osImage", n.os_image},
            {"kernelVersion", n.kernel_version},
            {"machineID", n.machine_id},
            {"systemUUID", n.machine_id},
            {"bootID", ""},
            {"kubeletVersion", "kaito-cpp/0.1.0"},
            {"kubeProxyVersion", ""},
            {"containerRuntimeVersion", "kaito-worker://0.1.0"}}},
          {"conditions", json::array({{{"type", "Ready"},
                                       {"status", "True"},
                                       {"reason", reasons::kKubeletReady},
                                       {"message", "kaito machine is posting ready status"},
                                       {"lastHeartbeatTime", now},
                                       {"lastTransitionTime", transition}}})}};
}

const json* ready_condition(const json& node) {
  if (!node.is_object() || !node.contains("status") || !node["status"].is_object()) return nullptr;
  const json& st = node["status"];
  auto it = st.find("conditions");
  return it == st.end() ? nullptr : find_condition(*it, "Ready");
}

}  // namespace

std::map<std::string, std::string> node_labels(const node_info& n) {
  std::map<std::string, std::string> l = n.extra_labels;
  l[labels::kHostname] = n.name;
  l[labels::kOs] = "linux";
  l[labels::kArch] = "amd64";
  l[labels::kInstanceType] = n.instance_type.empty() ? kCpuInstanceType : n.instance_type;
  l[labels::kMachine] = "true";
  if (n.instance_type.empty()) l[labels::kInstanceTypeAny] = "true";
  return l;
}

static status register_node_unguarded(client& c, const node_info& n, clock_time now) {
  std::string ts = rfc3339(now);
  json want_labels = node_labels(n);
  auto live = c.get(resources::kNodes, "", n.name);
  if (!live.ok() && live.error().code() != status_code::not_found) return live.error();
  if (!live.ok()) {
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata", {{"name", n.name}, {"labels", want_labels}}},
                 {"spec", json::object()},
                 {"status", node_status(n, ts, ts)}};
    auto created = c.create(resources::kNodes, "", node);
    if (created.ok() || created.error().code() != status_code::already_exists)
      return created.take_status();
    live = c.get(resources::kNodes, "", n.name);
    if (!live.ok()) return live.error();
  }
  // Labels: merge ours in; instance-type-any goes when an instance type is now given.
  json label_patch = want_labels;
  if (!n.instance_type.empty()) label_patch[labels::kInstanceTypeAny] = nullptr;
  bool labels_differ = false;
  const json& have = (*live)["metadata"].value("labels", json::object());
  for (auto it = label_patch.begin(); it != label_patch.end(); ++it)
    if (it->is_null() ? have.contains(it.key()) : have.value(it.key(), json()) != *it)
      labels_differ = true;
  if (labels_differ) {
    auto p = c.patch(resources::kNodes, "", n.name, patch_type::merge,
                     {{"metadata", {{"labels", label_patch}}}});
    if (!p.ok()) return p.error();
    live = std::move(p);
  }
  const json* ready = ready_condition(*live);
  std::string transition = ts;
  if (ready && ready->value("status", "") == "True" && ready->contains("lastTransitionTime") &&
      (*ready)["lastTransitionTime"].is_string())
    transition = (*ready)["lastTransitionTime"].get<std::string>();
  json next = *live;
  next["status"] = node_status(n, ts, transition);
  auto u = c.update_status(resources::kNodes, "", next);
  return u.take_status();
}

static status node_heartbeat_unguarded(client& c, const std::string& name, clock_time now) {
  std::string ts = rfc3339(now);
  // Fast path: Ready is conditions[0] (register_node writes it first) and already True.
  json patch = json::array(
      {{{"op", "test"}, {"path", "/status/conditions/0/type"}, {"value", "Ready"}},
       {{"op", "test"}, {"path", "/status/conditions/0/status"}, {"value", "True"}},
       {{"op", "replace"}, {"path", "/status/conditions/0/lastHeartbeatTime"}, {"value", ts}}});
  patch_options po;
  po.subresource = "status";
  auto fast = c.patch(resources::kNodes, "", name, patch_type::json_patch, patch, po);
  if (fast.ok()) return status();
  if (fast.error().code() != status_code::invalid_argument) return fast.error();
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto live = c.get(resources::kNodes, "", name);
    if (!live.ok()) return live.error();
    json next = *live;
    json conds = next["status"].value("conditions", json::array());
    set_condition(
        conds, {"Ready", "True", reasons::kKubeletReady, "kaito machine is posting ready status"},
        -1, ts);
    for (auto& cond : conds)
      if (string_field(cond, "type") == "Ready") cond["lastHeartbeatTime"] = ts;
    // Keep Ready first so the next heartbeat takes the fast path.
    std::stable_partition(conds.begin(), conds.end(),
                          [](const json& x) { return string_field(x, "type") == "Ready"; });
    next["status"]["conditions"] = conds;
    auto u = c.update_status(resources::kNodes, "", next);
    if (u.ok() || u.error().code() != status_code::conflict) return u.take_status();
  }
  return status(status_code::conflict, "node " + name + ": concurrent status updates");
}

static status mark_node_not_ready_unguarded(client& c, const std::string& name,
                                            const std::string& reason, const std::string& message,
                                            clock_time now) {
  std::string ts = rfc3339(now);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto live = c.get(resources::kNodes, "", name);
    if (!live.ok()) return live.error();
    json next = *live;
    if (!next.contains("status") || !next["status"].is_object()) next["status"] = json::object();
    json conds = next["status"].value("conditions", json::array());
    if (condition_status(conds, "Ready") == "Unknown") return status();
    set_condition(
        conds, {"Ready", "Unknown", reason.empty() ? reasons::kNodeStatusUnknown : reason, message},
        -1, ts);
    next["status"]["conditions"] = conds;
    auto u = c.update_status(resources::kNodes, "", next);
    if (u.ok() || u.error().code() != status_code::conflict) return u.take_status();
  }
  return status(status_code::conflict, "node " + name + ": concurrent status updates");
}

static result<std::vector<std::string>> evict_pods_from_node_unguarded(client& c,
                                                                       const std::string& node,
                                                                       const std::string& reason,
                                                                       event_recorder* events) {
  client_reader r(c);
  auto pods = r.list(resources::kPods, "", {{}, node});
  if (!pods.ok()) return pods.error();
  std::vector<std::string> out;
  for (const auto& pod : *pods) {
    if (pod_terminal(pod)) continue;
    std::string ns = meta_string(pod, "namespace"), name = meta_string(pod, "name");
    delete_options o;
    o.propagation_policy = "Background";
    auto d = c.remove(resources::kPods, ns, name, o);
    if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
    out.push_back(make_key(ns, name));
    if (events)
      (void)events->record(
          pod, event_type::warning, "TaintManagerEviction",
          "Marking for deletion Pod " + ns + "/" + name + " (node " + node + ": " + reason + ")");
  }
  return out;
}

status register_node(client& c, const node_info& n, clock_time now) {
  return guard_json("node " + n.name, [&] { return register_node_unguarded(c, n, now); });
}

status node_heartbeat(client& c, const std::string& name, clock_time now) {
  return guard_json("node " + name, [&] { return node_heartbeat_unguarded(c, name, now); });
}

status mark_node_not_ready(client& c, const std::string& name, const std::string& reason,
                           const std::string& message, clock_time now) {
  return guard_json("node " + name,
                    [&] { return mark_node_not_ready_unguarded(c, name, reason, message, now); });
}

result<std::vector<std::string>> evict_pods_from_node(client& c, const std::string& node,
                                                      const std::string& reason,
                                                      event_recorder* events) {
  return guard_json("node " + node,
                    [&] { return evict_pods_from_node_unguarded(c, node, reason, events); });
}

bool node_ready(const json& node) {
  const json* r = ready_condition(node);
  return r && r->value("status", "") == "True";
}

int64_t node_worker_slots(const json& node) {
  return quantity_int(node, "allocatable", kWorkerSlots, 1);
}

int64_t node_gpus(const json& node) {
  return quantity_int(node, "allocatable", kGpuResource, 0);
}

std::string node_label(const json& node, const std::string& key) {
  if (!node.is_object() || !node.contains("metadata") || !node["metadata"].is_object()) return "";
  const json& l = node["metadata"].value("labels", json::object());
  auto it = l.is_object() ? l.find(key) : l.end();
  return l.is_object() && it != l.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string node_internal_ip(const json& node) {
  if (!node.is_object() || !node.contains("status") || !node["status"].is_object()) return "";
  const json& a = node["status"].value("addresses", json::array());
  if (!a.is_array()) return "";
  for (const auto& e : a)
    if (string_field(e, "type") == "InternalIP" && e.value("address", json()).is_string())
      return e["address"].get<std::string>();
  return "";
}

bool pod_ready(const json& pod) {
  if (!pod.is_object() || !pod.contains("status") || !pod["status"].is_object()) return false;
  return condition_status(pod["status"].value("conditions", json()), "Ready") == "True";
}

bool deleting(const json& obj) {
  return !meta_string(obj, "deletionTimestamp").empty();
}

std::string pod_phase(const json& pod) {
  if (!pod.is_object() || !pod.contains("status")) return "Pending";
  std::string p = string_field(pod["status"], "phase");
  return p.empty() ? "Pending" : p;
}

bool pod_terminal(const json& pod) {
  std::string p = pod_phase(pod);
  return p == "Succeeded" || p == "Failed";
}

}  // namespace kaito::k8s::controllers
