// supervisor_actions; see supervisor_actions.h.
#include "actors/supervisor_actions.h"

#include "k8s/controllers/nodes.h"
#include "k8s/controllers/reconcile.h"

namespace kaito::actors {

namespace res = k8s::controllers::resources;

result<std::string> drain_machine(k8s::client& c, k8s::controllers::event_recorder* events,
                                  const std::string& node) {
  auto patched = c.patch(res::kNodes, "", node, k8s::patch_type::merge,
                         k8s::json{{"spec", {{"unschedulable", true}}}});
  if (!patched.ok()) return patched.error();
  auto evicted = k8s::controllers::evict_pods_from_node(c, node, "Drained", events);
  if (!evicted.ok()) return evicted.error();
  std::string out = "node/" + node + " cordoned\n";
  for (const auto& p : *evicted) out += "pod/" + p + " evicted\n";
  return out;
}

result<std::string> restart_workspace(k8s::client& c, const std::string& ns,
                                      const std::string& name) {
  auto ws = c.get(res::kWorkspaces, ns, name);
  if (!ws.ok()) return ws.error();
  std::string out;
  auto job = c.remove(res::kJobs, ns, name, {.propagation_policy = "Background"});
  if (job.ok())
    out += "job/" + name + " deleted\n";
  else if (job.error().code() != status_code::not_found)
    return job.error();
  auto pods = c.list(res::kPods, ns);
  if (!pods.ok()) return pods.error();
  for (const auto& p : (*pods)["items"]) {
    if (!p.is_object() || !p.contains("metadata") || !p["metadata"].is_object()) continue;
    const auto& md = p["metadata"];
    bool mine = false;
    if (md.contains("labels") && md["labels"].is_object())
      for (const char* k : {"kaito.sh/workspace", "job-name"})
        if (md["labels"].value(k, std::string()) == name) mine = true;
    if (md.contains("ownerReferences") && md["ownerReferences"].is_array())
      for (const auto& o : md["ownerReferences"])
        if (o.is_object() && o.value("name", std::string()) == name) mine = true;
    if (!mine) continue;
    std::string pod = md.value("name", std::string());
    auto del = c.remove(res::kPods, ns, pod);
    if (!del.ok() && del.error().code() != status_code::not_found) return del.error();
    out += "pod/" + pod + " deleted\n";
  }
  if (out.empty()) out = "workspace " + ns + "/" + name + " has no Job or pods yet\n";
  return out;
}

}  // namespace kaito::actors
