// Node claims for a Workspace; see workspace_steps.h (step 4) and workspace_controller.h.
#include <algorithm>

#include "k8s/client/api_error.h"
#include "k8s/controllers/events.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/workspace_steps.h"

namespace kaito::k8s::controllers {

namespace {

label_map mine_selector(const workspace_facts& f) {
  return {{labels::kWorkspace, f.name}, {labels::kWorkspaceNamespace, f.ns}};
}

void emit(const controller_env& env, const json& ws, event_type t, const char* reason,
          const std::string& msg) {
  if (env.events) (void)env.events->record(ws, t, reason, msg);
}

}  // namespace

bool node_qualifies(const json& node, const workspace_facts& f) {
  if (!node_ready(node) || node_label(node, labels::kMachine) != "true") return false;
  if (!meta_string(node, "deletionTimestamp").empty()) return false;
  std::string owner = node_label(node, labels::kWorkspace);
  std::string owner_ns = node_label(node, labels::kWorkspaceNamespace);
  if (!owner.empty() && !(owner == f.name && owner_ns == f.ns)) return false;
  if (f.instance_type.empty()) return true;
  return node_label(node, labels::kInstanceType) == f.instance_type ||
         node_label(node, labels::kInstanceTypeAny) == "true";
}

result<node_claims> provision_nodes(const controller_env& env, object_reader& r, const json& ws,
                                    const workspace_facts& f, bool frozen) {
  node_claims out;
  auto mine = r.list(resources::kNodes, "", {mine_selector(f), ""});
  if (!mine.ok()) return mine.error();
  for (const auto& n : *mine) {
    std::string name = meta_string(n, "name");
    if (node_ready(n) || frozen) {
      out.claimed.push_back(name);
      if (node_ready(n)) ++out.ready;
      continue;
    }
    auto p = env.client->patch(resources::kNodes, "", name, patch_type::merge, release_patch(n));
    if (!p.ok() && p.error().code() != status_code::not_found) {
      if (p.error().code() != status_code::conflict) return p.error();
      out.raced = true;
      continue;
    }
    emit(env, ws, event_type::warning, "NodeReleased",
         "released node " + name + ": it is not Ready");
  }
  if (frozen || out.ready >= f.target_node_count) {
    std::sort(out.claimed.begin(), out.claimed.end());
    return out;
  }
  auto all = r.list(resources::kNodes, "", {{{labels::kMachine, "true"}}, ""});
  if (!all.ok()) return all.error();
  std::vector<const json*> candidates;
  for (const auto& n : *all)
    if (node_qualifies(n, f) && node_label(n, labels::kWorkspace).empty()) candidates.push_back(&n);
  // Exact instance types first, then machines that may stand for any; by name within each.
  std::stable_sort(candidates.begin(), candidates.end(), [&](const json* a, const json* b) {
    bool ea = node_label(*a, labels::kInstanceType) == f.instance_type;
    bool eb = node_label(*b, labels::kInstanceType) == f.instance_type;
    return ea && !eb;
  });
  size_t i = 0;
  for (; i < candidates.size() && out.ready < f.target_node_count; ++i) {
    const json& n = *candidates[i];
    std::string name = meta_string(n, "name");
    auto p = env.client->patch(resources::kNodes, "", name, patch_type::merge, claim_patch(f, n));
    if (!p.ok()) {
      if (p.error().code() == status_code::conflict || p.error().code() == status_code::not_found) {
        out.raced = true;
        continue;
      }
      return p.error();
    }
    out.claimed.push_back(name);
    ++out.ready;
    emit(env, ws, event_type::normal, "NodeClaimed", "claimed node " + name);
  }
  out.free_matching = static_cast<int64_t>(candidates.size() - i);
  std::sort(out.claimed.begin(), out.claimed.end());
  return out;
}

status release_all_nodes(const controller_env& env, object_reader& r, const json& ws,
                         const workspace_facts& f) {
  auto mine = r.list(resources::kNodes, "", {mine_selector(f), ""});
  if (!mine.ok()) return mine.error();
  for (const auto& n : *mine) {
    std::string name = meta_string(n, "name");
    // Fresh read: the claim patch is guarded by resourceVersion and the cache may lag.
    auto live = env.client->get(resources::kNodes, "", name);
    if (!live.ok()) {
      if (live.error().code() == status_code::not_found) continue;
      return live.error();
    }
    auto p =
        env.client->patch(resources::kNodes, "", name, patch_type::merge, release_patch(*live));
    if (!p.ok() && p.error().code() != status_code::not_found) return p.error();
    emit(env, ws, event_type::normal, "NodeReleased", "released node " + name);
  }
  return status();
}

}  // namespace kaito::k8s::controllers
