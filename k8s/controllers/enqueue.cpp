// Event -> reconcile key mapping; see enqueue.h.
#include "k8s/controllers/enqueue.h"

#include "k8s/client/api_error.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

namespace {

std::vector<std::string> controller_of_kind(const json& obj, const char* kind) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return {};
  const json& m = obj["metadata"];
  if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array()) return {};
  for (const auto& r : m["ownerReferences"])
    if (string_field(r, "kind") == kind && r.is_object() && r.value("controller", json()) == true)
      return {make_key(meta_string(obj, "namespace"), string_field(r, "name"))};
  return {};
}

}  // namespace

std::vector<std::string> workspace_keys_for(const json& obj) {
  std::string ws = node_label(obj, labels::kWorkspace);
  std::string ns = node_label(obj, labels::kWorkspaceNamespace);
  if (!ws.empty() && !ns.empty()) return {make_key(ns, ws)};
  std::string cr = node_label(obj, labels::kWorkspaceName);
  if (!cr.empty() && !meta_string(obj, "namespace").empty())
    return {make_key(meta_string(obj, "namespace"), cr)};
  return controller_of_kind(obj, "Workspace");
}

std::vector<std::string> job_keys_for(const json& pod) {
  return controller_of_kind(pod, "Job");
}

std::vector<std::string> statefulset_keys_for(const json& pod) {
  return controller_of_kind(pod, "StatefulSet");
}

bool node_event_frees_capacity(const json& old_node, const json& new_node) {
  bool old_ready = !old_node.is_null() && node_ready(old_node);
  bool new_ready = !new_node.is_null() && node_ready(new_node);
  if (old_ready != new_ready) return true;
  if (!new_ready) return false;
  if (!node_label(old_node, labels::kWorkspace).empty() &&
      node_label(new_node, labels::kWorkspace).empty())
    return true;
  return node_worker_slots(new_node) > node_worker_slots(old_node);
}

}  // namespace kaito::k8s::controllers
