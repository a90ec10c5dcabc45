// Node choice and pod binding; see scheduling.h.
#include "k8s/controllers/scheduling.h"

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

namespace {

label_map selector_of(const json& pod_spec) {
  label_map out;
  if (!pod_spec.is_object()) return out;
  auto it = pod_spec.find("nodeSelector");
  if (it == pod_spec.end() || !it->is_object()) return out;
  for (auto kv = it->begin(); kv != it->end(); ++kv)
    if (kv->is_string()) out[kv.key()] = kv->get<std::string>();
  return out;
}

}  // namespace

json controller_ref(const json& owner) {
  return {{"apiVersion", string_field(owner, "apiVersion")},
          {"kind", string_field(owner, "kind")},
          {"name", meta_string(owner, "name")},
          {"uid", meta_string(owner, "uid")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

bool owned_by_uid(const json& obj, const std::string& uid) {
  if (uid.empty() || !obj.is_object() || !obj.contains("metadata")) return false;
  const json& m = obj["metadata"];
  if (!m.is_object() || !m.contains("ownerReferences") || !m["ownerReferences"].is_array())
    return false;
  for (const auto& r : m["ownerReferences"])
    if (string_field(r, "uid") == uid) return true;
  return false;
}

result<placement> choose_node(object_reader& r, const json& pod_spec,
                              std::map<std::string, int>& planned) {
  label_map sel = selector_of(pod_spec);
  // Only nodes carrying the selector's labels can fit: read those first (an index lookup in a
  // cache), and every node only to explain a failure.
  auto selected = r.list(resources::kNodes, "", {sel, ""});
  if (!selected.ok()) return selected.error();
  int not_ready = 0, full = 0;
  for (const auto& n : *selected) {
    if (!node_ready(n) || deleting(n)) {
      ++not_ready;
      continue;
    }
    std::string name = meta_string(n, "name");
    auto pods = r.list(resources::kPods, "", {{}, name});
    if (!pods.ok()) return pods.error();
    int64_t used = planned[name];
    for (const auto& p : *pods)
      if (!pod_terminal(p) && !deleting(p)) ++used;
    if (used >= node_worker_slots(n)) {
      ++full;
      continue;
    }
    ++planned[name];
    return placement{name, ""};
  }
  auto all = r.list(resources::kNodes, "", {});
  if (!all.ok()) return all.error();
  int no_match = static_cast<int>(all->size()) - static_cast<int>(selected->size());
  std::string msg = "0/" + std::to_string(all->size()) + " nodes are available:";
  std::string parts;
  auto add = [&](int n, const char* what) {
    if (n <= 0) return;
    parts += (parts.empty() ? " " : ", ") + std::to_string(n) + " node(s) " + what;
  };
  add(no_match, "didn't match Pod's node affinity/selector");
  add(not_ready, "were not ready");
  add(full, "had no free worker slot");
  if (parts.empty()) parts = " no nodes registered";
  return placement{"", msg + parts + "."};
}

json build_pod(const json& pod_template, const std::string& ns, const std::string& name,
               const std::map<std::string, std::string>& labels, const json& owner,
               const placement& p, const std::string& now) {
  json meta = json::object();
  if (pod_template.is_object() && pod_template.contains("metadata") &&
      pod_template["metadata"].is_object())
    meta = pod_template["metadata"];
  meta["name"] = name;
  meta["namespace"] = ns;
  if (!meta.contains("labels") || !meta["labels"].is_object()) meta["labels"] = json::object();
  for (const auto& [k, v] : labels) meta["labels"][k] = v;
  meta["ownerReferences"] = json::array({controller_ref(owner)});
  json spec =
      pod_template.is_object() && pod_template.contains("spec") && pod_template["spec"].is_object()
          ? pod_template["spec"]
          : json::object();
  json cond = {{"type", "PodScheduled"}, {"lastTransitionTime", now}, {"lastProbeTime", nullptr}};
  if (!p.node.empty()) {
    spec["nodeName"] = p.node;
    cond["status"] = "True";
  } else {
    cond["status"] = "False";
    cond["reason"] = "Unschedulable";
    cond["message"] = p.message;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", meta},
          {"spec", spec},
          {"status", {{"phase", "Pending"}, {"conditions", json::array({cond})}}}};
}

result<bool> bind_pending_pod(client& c, object_reader& r, const json& pod,
                              std::map<std::string, int>& planned, const std::string& now) {
  std::string ns = meta_string(pod, "namespace"), name = meta_string(pod, "name");
  auto p = choose_node(r, object_member(pod, "spec"), planned);
  if (!p.ok()) return p.error();
  json conds = pod.contains("status") && pod["status"].is_object()
                   ? pod["status"].value("conditions", json::array())
                   : json::array();
  json before = conds;
  if (p->node.empty()) {
    set_condition(conds, {"PodScheduled", "False", "Unschedulable", p->message}, -1, now);
    if (conds == before) return false;
    patch_options po;
    po.subresource = "status";
    auto w = c.patch(resources::kPods, ns, name, patch_type::merge,
                     {{"metadata", {{"resourceVersion", meta_string(pod, "resourceVersion")}}},
                      {"status", {{"conditions", conds}}}},
                     po);
    if (!w.ok()) return w.error();
    return false;
  }
  auto bound = c.patch(resources::kPods, ns, name, patch_type::merge,
                       {{"metadata", {{"resourceVersion", meta_string(pod, "resourceVersion")}}},
                        {"spec", {{"nodeName", p->node}}}});
  if (!bound.ok()) return bound.error();
  set_condition(conds, {"PodScheduled", "True", "", ""}, -1, now);
  patch_options po;
  po.subresource = "status";
  auto w = c.patch(resources::kPods, ns, name, patch_type::merge,
                   {{"status", {{"conditions", conds}}}}, po);
  if (!w.ok()) return w.error();
  return true;
}

}  // namespace kaito::k8s::controllers
