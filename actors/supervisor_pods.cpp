// supervisor_pods; see supervisor_pods.h.
#include "actors/supervisor_pods.h"

#include <algorithm>

#include "actors/pod_probe_spec.h"
#include "k8s/controllers/nodes.h"

namespace kaito::actors {

namespace {

std::string str(const json& o, const char* a, const char* b) {
  if (!o.is_object()) return "";
  auto i = o.find(a);
  if (i == o.end() || !i->is_object()) return "";
  auto j = i->find(b);
  return j != i->end() && j->is_string() ? j->get<std::string>() : "";
}

}  // namespace

std::optional<msg::run_pod> run_pod_for(const json& pod, const node_registry& reg,
                                        const std::map<std::string, dispatched_pod>& dispatched,
                                        std::vector<std::string>* probes_not_run) {
  std::string node = str(pod, "spec", "nodeName");
  std::string uid = str(pod, "metadata", "uid");
  if (node.empty() || uid.empty() || !reg.is_ready(node)) return std::nullopt;
  if (k8s::controllers::pod_terminal(pod)) return std::nullopt;
  if (pod["metadata"].contains("deletionTimestamp")) return std::nullopt;
  if (dispatched.count(uid) != 0) return std::nullopt;
  if (reg.find(node)->running_pod_uids.count(uid) != 0) return std::nullopt;
  msg::run_pod r;
  r.ns = str(pod, "metadata", "namespace");
  r.name = str(pod, "metadata", "name");
  r.uid = uid;
  r.restart_policy = str(pod, "spec", "restartPolicy");
  if (r.restart_policy.empty()) r.restart_policy = "Always";
  const auto& spec = pod["spec"];
  // The grace a stop gives the container (the API's default 30 s; a negative value, which the
  // API refuses, counts as 0).
  r.termination_grace_ms = 30000;
  if (auto g = spec.find("terminationGracePeriodSeconds");
      g != spec.end() && g->is_number_integer())
    r.termination_grace_ms = std::clamp<int64_t>(g->get<int64_t>(), 0, 86400) * 1000;
  auto cs = spec.find("containers");
  if (cs != spec.end() && cs->is_array() && !cs->empty() && (*cs)[0].is_object()) {
    const json& c = (*cs)[0];
    auto args = c.find("args");
    if (args != c.end() && args->is_array())
      for (const auto& a : *args)
        if (a.is_string()) r.args.push_back(a.get<std::string>());
    r.container = c.value("name", "");
    container_probes probes = probes_of(c);
    r.startup_probe = std::move(probes.startup);
    r.liveness_probe = std::move(probes.liveness);
    r.readiness_probe = std::move(probes.readiness);
    if (probes_not_run) *probes_not_run = std::move(probes.not_run);
  }
  return r;
}

std::optional<k8s::controllers::pod_report> to_controller_report(const msg::pod_report& r) {
  using k8s::controllers::pod_phase_value;
  k8s::controllers::pod_report out;
  if (r.phase == "Pending")
    out.phase = pod_phase_value::pending;
  else if (r.phase == "Running")
    out.phase = pod_phase_value::running;
  else if (r.phase == "Succeeded")
    out.phase = pod_phase_value::succeeded;
  else if (r.phase == "Failed")
    out.phase = pod_phase_value::failed;
  else
    return std::nullopt;
  out.uid = r.uid;
  out.ready = r.ready;
  out.restart_count = r.restart_count;
  out.exit_code = r.exit_code;
  out.reason = r.reason;
  out.message = r.message;
  out.host_port_offset = r.host_port_offset;
  if (r.started_at_ms > 0)
    out.started_at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(r.started_at_ms));
  if (r.finished_at_ms > 0)
    out.finished_at =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(r.finished_at_ms));
  if (r.container_state == "waiting")
    out.container = k8s::controllers::container_state_value::waiting;
  else if (r.container_state == "terminated")
    out.container = k8s::controllers::container_state_value::terminated;
  else if (!r.container_state.empty())
    return std::nullopt;
  if (r.last_exit.finished_at_ms > 0) {
    auto at = [](int64_t ms) {
      return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    };
    k8s::controllers::container_termination last;
    last.exit_code = r.last_exit.exit_code;
    last.reason = r.last_exit.reason;
    last.message = r.last_exit.message;
    if (r.last_exit.started_at_ms > 0) last.started_at = at(r.last_exit.started_at_ms);
    last.finished_at = at(r.last_exit.finished_at_ms);
    out.last = std::move(last);
  }
  return out;
}

bool pod_log_buffer::add(const std::string& pod_key, const std::string& line) {
  auto& q = lines_[pod_key];
  if (!q.empty() && q.back() == line) return false;
  q.push_back(line);
  while (q.size() > capacity_) q.pop_front();
  return true;
}

}  // namespace kaito::actors
