// Pod status from machine reports; see pod_status.h.
#include "k8s/controllers/pod_status.h"

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/wall_time.h"

namespace kaito::k8s::controllers {

namespace {

bool known(std::chrono::system_clock::time_point t) {
  return t.time_since_epoch().count() != 0;
}

json container_of(const json& pod) {
  if (pod.contains("spec") && pod["spec"].is_object() && pod["spec"].contains("containers") &&
      pod["spec"]["containers"].is_array() && !pod["spec"]["containers"].empty() &&
      pod["spec"]["containers"][0].is_object())
    return pod["spec"]["containers"][0];
  return json::object();
}

}  // namespace

const char* phase_name(pod_phase_value p) {
  switch (p) {
    case pod_phase_value::pending:
      return "Pending";
    case pod_phase_value::running:
      return "Running";
    case pod_phase_value::succeeded:
      return "Succeeded";
    case pod_phase_value::failed:
      return "Failed";
  }
  return "Pending";
}

json pod_status_from_report(const json& pod, const pod_report& r, const std::string& host_ip,
                            const std::string& now) {
  json st = pod.contains("status") && pod["status"].is_object() ? pod["status"] : json::object();
  json old_cs = st.contains("containerStatuses") && st["containerStatuses"].is_array() &&
                        !st["containerStatuses"].empty() && st["containerStatuses"][0].is_object()
                    ? st["containerStatuses"][0]
                    : json::object();
  // Unknown times keep what an earlier report recorded, so a repeated report changes nothing.
  auto old_time = [&](const char* state, const char* key) -> std::string {
    if (!old_cs.contains("state") || !old_cs["state"].is_object()) return "";
    const json& s = old_cs["state"];
    return s.contains(state) ? string_field(s[state], key) : "";
  };
  std::string started =
      known(r.started_at) ? rfc3339(r.started_at) : old_time("running", "startedAt");
  if (started.empty()) started = old_time("terminated", "startedAt");
  if (started.empty()) started = now;
  std::string finished =
      known(r.finished_at) ? rfc3339(r.finished_at) : old_time("terminated", "finishedAt");
  if (finished.empty()) finished = now;
  json state;
  bool terminal = r.phase == pod_phase_value::succeeded || r.phase == pod_phase_value::failed;
  bool running = r.phase == pod_phase_value::running;
  auto terminated = [&](const char* dflt) {
    json t = {{"exitCode", r.exit_code},
              {"reason", r.reason.empty() ? dflt : r.reason},
              {"startedAt", started},
              {"finishedAt", finished}};
    if (!r.message.empty()) t["message"] = r.message;
    return json{{"terminated", t}};
  };
  if (terminal) {
    state = terminated(r.phase == pod_phase_value::succeeded ? "Completed" : "Error");
  } else if (running && r.container == container_state_value::terminated) {
    state = terminated(r.exit_code == 0 ? "Completed" : "Error");
  } else if (running && r.container == container_state_value::running) {
    state = {{"running", {{"startedAt", started}}}};
  } else {
    json w = {{"reason", !r.reason.empty() ? r.reason
                         : running         ? "CrashLoopBackOff"
                                           : "ContainerCreating"}};
    if (!r.message.empty()) w["message"] = r.message;
    state = {{"waiting", w}};
  }
  const bool container_running = running && r.container == container_state_value::running;
  // lastState: how the previous container ended, as the machine says; else what was recorded.
  json last = old_cs.value("lastState", json::object());
  if (r.last) {
    json t = {{"exitCode", r.last->exit_code},
              {"reason", r.last->reason.empty() ? "Error" : r.last->reason},
              {"startedAt", known(r.last->started_at) ? rfc3339(r.last->started_at) : started},
              {"finishedAt", known(r.last->finished_at) ? rfc3339(r.last->finished_at) : now}};
    if (!r.last->message.empty()) t["message"] = r.last->message;
    last = {{"terminated", t}};
  }
  json c = container_of(pod);
  json cs = {{"name", string_field(c, "name")},
             {"image", string_field(c, "image")},
             {"imageID", ""},
             {"containerID", ""},
             {"ready", r.ready && container_running},
             {"started", container_running},
             {"restartCount", r.restart_count},
             {"state", state},
             {"lastState", last}};
  bool ready = r.ready && container_running;
  json conds = st.value("conditions", json::array());
  bool scheduled = pod.contains("spec") && pod["spec"].is_object() &&
                   !string_field(pod["spec"], "nodeName").empty();
  set_condition(conds, {"PodScheduled", scheduled ? "True" : "False", "", ""}, -1, now);
  set_condition(conds,
                {"Initialized", r.phase == pod_phase_value::pending ? "False" : "True", "", ""}, -1,
                now);
  std::string not_ready_reason = terminal ? "PodCompleted" : "ContainersNotReady";
  set_condition(conds,
                {"ContainersReady", ready ? "True" : "False", ready ? "" : not_ready_reason, ""},
                -1, now);
  set_condition(conds, {"Ready", ready ? "True" : "False", ready ? "" : not_ready_reason, ""}, -1,
                now);
  for (auto& x : conds) {
    if (x.is_object() && x.value("reason", json()) == "") x.erase("reason");
    if (x.is_object() && x.value("message", json()) == "") x.erase("message");
  }
  st["phase"] = phase_name(r.phase);
  st["conditions"] = conds;
  st["containerStatuses"] = json::array({cs});
  if (!host_ip.empty()) {
    st["hostIP"] = host_ip;
    st["hostIPs"] = json::array({{{"ip", host_ip}}});
    if (r.phase != pod_phase_value::pending) {
      st["podIP"] = host_ip;
      st["podIPs"] = json::array({{{"ip", host_ip}}});
    }
  }
  if (!st.contains("startTime") && r.phase != pod_phase_value::pending) st["startTime"] = started;
  if (!st.contains("qosClass")) st["qosClass"] = "BestEffort";
  return st;
}

int32_t host_port_offset(const json& pod) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].is_object()) return 0;
  const json& a = pod["metadata"].value("annotations", json::object());
  if (!a.is_object() || !a.contains(kHostPortOffsetAnnotation) ||
      !a[kHostPortOffsetAnnotation].is_string())
    return 0;
  const std::string v = a[kHostPortOffsetAnnotation].get<std::string>();
  if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos) return 0;
  int32_t n = std::stoi(v);
  return n <= 65535 ? n : 0;
}

namespace {

// Records the report's port offset on the pod (metadata, so not through /status).
status record_port_offset(client& c, const std::string& ns, const std::string& name,
                          const json& live, const pod_report& r) {
  if (r.host_port_offset < 0) return {};
  const std::string want = std::to_string(r.host_port_offset);
  const json& md = live["metadata"];
  if (md.contains("annotations") && md["annotations"].is_object() &&
      md["annotations"].value(kHostPortOffsetAnnotation, json()) == want)
    return {};
  json patch = {
      {"metadata", {{"uid", r.uid}, {"annotations", {{kHostPortOffsetAnnotation, want}}}}}};
  auto p = c.patch(resources::kPods, ns, name, patch_type::merge, patch);
  if (p.ok() || p.error().code() == status_code::not_found) return {};
  return p.error();
}

}  // namespace

result<bool> apply_pod_report(client& c, const std::string& ns, const std::string& name,
                              const pod_report& r) {
  try {
    for (int attempt = 0; attempt < 4; ++attempt) {
      auto live = c.get(resources::kPods, ns, name);
      if (!live.ok()) {
        if (live.error().code() == status_code::not_found) return false;
        return live.error();
      }
      if (meta_string(*live, "uid") != r.uid) return false;
      // Terminal is final: a late "running" report cannot resurrect a finished pod.
      if (pod_terminal(*live)) {
        bool report_terminal =
            r.phase == pod_phase_value::succeeded || r.phase == pod_phase_value::failed;
        if (!report_terminal) return false;
      } else if (auto s = record_port_offset(c, ns, name, *live, r); !s.ok()) {
        return s;
      }
      std::string host_ip;
      const json& old_st = live->value("status", json::object());
      if (old_st.is_object() && old_st.contains("hostIP")) {
        host_ip = string_field(old_st, "hostIP");
      } else if (auto node = string_field(live->value("spec", json::object()), "nodeName");
                 !node.empty()) {
        auto n = c.get(resources::kNodes, "", node);
        if (n.ok()) host_ip = node_internal_ip(*n);
      }
      std::string now = rfc3339(std::chrono::system_clock::now());
      json st = pod_status_from_report(*live, r, host_ip, now);
      if (old_st == st) return false;
      json next = *live;
      next["status"] = st;
      auto u = c.update_status(resources::kPods, ns, next);
      if (u.ok()) return true;
      if (u.error().code() == status_code::not_found) return false;
      if (u.error().code() != status_code::conflict) return u.error();
    }
    return status(status_code::conflict, "pod " + ns + "/" + name + ": concurrent status updates");
  } catch (const json::exception& e) {
    return internal_error(std::string("pod ") + ns + "/" + name +
                          ": malformed object: " + e.what());
  }
}

}  // namespace kaito::k8s::controllers
