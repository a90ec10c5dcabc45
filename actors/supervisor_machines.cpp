// The supervisor's machines and pods (see supervisor_actor.cpp's diagram): a machine's hello
// (admission, its Node registered, its bound pods dispatched), heartbeats, its loss (Node
// NotReady, pods evicted), pods dispatched to their machines as run_pod (secret and configMap
// volumes projected from the informer caches), and pod reports applied in order, one at a time
// per pod, with their progress lines kept for `logs`.
#include "actors/supervisor_machines.h"

#include "actors/node_registry.h"
#include "actors/pod_log_files.h"
#include "actors/pod_volumes.h"
#include "actors/supervisor_atoms.h"
#include "actors/supervisor_pods.h"
#include "actors/supervisor_runtime.h"
#include "actors/supervisor_state.h"
#include "actors/token.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "k8s/client/api_error.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/pod_status.h"

namespace kaito::actors::detail {

namespace ctl = k8s::controllers;
using namespace std::chrono_literals;

// The pod's secret / configMap volumes from the informer caches; the first failure (a missing
// Secret, say) is logged and recorded as a FailedMount Event once, and the pod waits (retried on
// every tick and pod event) as the kubelet's would.
bool project_volumes(self_ptr self, const json& pod, msg::run_pod& run) {
  auto& st = self->state;
  auto* rt = st.rt;
  auto files = project_pod_volumes(
      pod, [rt](const std::string& kind, const std::string& ns, const std::string& name) {
        return rt->cache(kind).get(ns, name);
      });
  if (files.ok()) {
    st.mount_failures.erase(run.ns + "/" + run.name);
    run.files = std::move(*files);
    return true;
  }
  std::string why = files.error().to_string();
  auto [it, fresh] = st.mount_failures.emplace(run.ns + "/" + run.name, why);
  if (!fresh && it->second == why) return false;
  it->second = why;
  log_warn(slog(), "pod volumes not ready", {{"pod", run.ns + "/" + run.name}, {"error", why}});
  run_blocking(
      self,
      [rt, pod, why] {
        if (rt->kubelet_events)
          (void)rt->kubelet_events->record(pod, ctl::event_type::warning, "FailedMount",
                                           "MountVolume.SetUp failed: " + why);
        return msg::shell_reply{};
      },
      std::nullopt);
  return false;
}

void dispatch_pod(self_ptr self, const json& pod) {
  auto& st = self->state;
  std::vector<std::string> probes_not_run;
  auto run = run_pod_for(pod, st.registry, st.dispatched, &probes_not_run);
  if (!run) return;
  auto link = st.links.find(pod["spec"].value("nodeName", ""));
  if (link == st.links.end()) return;
  if (!project_volumes(self, pod, *run)) return;
  st.dispatched[run->uid] = {link->first, run->ns + "/" + run->name};
  log_info(slog(), "run pod",
           {{"pod", run->ns + "/" + run->name}, {"node", link->first}, {"uid", run->uid}});
  self->send(link->second.handle, std::move(*run));
  if (probes_not_run.empty()) return;
  auto* rt = st.rt;
  run_blocking(
      self,
      [rt, pod, probes_not_run] {
        if (rt->kubelet_events)
          for (const auto& why : probes_not_run)
            (void)rt->kubelet_events->record(pod, ctl::event_type::warning, "ProbeNotRun", why);
        return msg::shell_reply{};
      },
      std::nullopt);
}

void dispatch_all(self_ptr self) {
  if (!self->state.leader) return;
  for (const auto& pod : self->state.rt->cache("pod").list()) dispatch_pod(self, pod);
}

void on_pod_event(self_ptr self, const std::string& key, bool deleted) {
  auto& st = self->state;
  auto [ns, name] = ctl::split_key(key);
  auto pod = deleted ? std::nullopt : st.rt->cache("pod").get(ns, name);
  bool gone = !pod || (*pod)["metadata"].contains("deletionTimestamp");
  if (gone) st.mount_failures.erase(key);
  for (auto it = st.dispatched.begin(); it != st.dispatched.end();) {
    if (it->second.key != key ||
        (pod && !gone && (*pod)["metadata"].value("uid", "") == it->first &&
         !ctl::pod_terminal(*pod))) {
      ++it;
      continue;
    }
    // Deleted (or replaced by a new pod of the same name): stop it; terminal: just forget it.
    if (gone || !pod || (*pod)["metadata"].value("uid", "") != it->first) {
      auto link = st.links.find(it->second.node);
      if (link != st.links.end())
        self->send(link->second.handle, msg::stop_pod{ns, name, it->first});
    }
    it = st.dispatched.erase(it);
  }
  if (deleted) {  // its logs go with it (a pod of the same name starts with none)
    st.logs.forget(key);
    st.log_restarts.erase(key);
    remove_pod_logs(st.rt->opts.home, ns, name);
  }
  if (pod && !gone && st.leader) dispatch_pod(self, *pod);
}

ctl::node_info node_info_of(const machine_record& m) {
  ctl::node_info n;
  n.name = m.name;
  n.instance_type = m.instance_type;
  n.cpu_cores = m.resources.cpu_cores > 0 ? m.resources.cpu_cores : 1;
  n.memory_bytes = static_cast<int64_t>(m.resources.memory_bytes);
  n.gpu_count = m.resources.gpus;
  n.worker_slots = m.resources.slots > 0 ? m.resources.slots : 1;
  n.address = m.address.empty() ? "127.0.0.1" : m.address;
  for (const auto& l : m.labels) n.extra_labels[l.key] = l.value;
  n.machine_id = m.name;
  return n;
}

void register_node_async(self_ptr self, const machine_record& m) {
  auto* rt = self->state.rt;
  auto n = node_info_of(m);
  run_blocking(self, [rt, n] {
    auto st = ctl::register_node(*rt->client, n, rt->env.clock->now());
    if (!st.ok())
      log_warn(slog(), "register node failed", {{"node", n.name}, {"error", st.to_string()}});
    return msg::shell_reply{};
  });
}

// The machine's Node turns NotReady and its pods are evicted. handle_down: its actor is gone (the
// link is dropped; it must say hello again); else it only went silent, and a later heartbeat on
// the same link revives it.
void lose_machine(self_ptr self, const std::string& name, const std::string& reason,
                  bool handle_down) {
  auto& st = self->state;
  log_warn(slog(), "machine lost", {{"node", name}, {"reason", reason}});
  if (handle_down) st.links.erase(name);
  for (auto it = st.dispatched.begin(); it != st.dispatched.end();)
    it = it->second.node == name ? st.dispatched.erase(it) : std::next(it);
  if (!st.leader) return;
  auto* rt = self->state.rt;
  run_blocking(self, [rt, name, reason] {
    auto s = ctl::mark_node_not_ready(*rt->client, name, "NodeStatusUnknown",
                                      "Kubelet stopped posting node status: " + reason,
                                      rt->env.clock->now());
    if (!s.ok())
      log_warn(slog(), "mark NotReady failed", {{"node", name}, {"error", s.to_string()}});
    auto ev = ctl::evict_pods_from_node(*rt->client, name, "NodeLost", rt->events.get());
    if (!ev.ok())
      log_warn(slog(), "evict failed", {{"node", name}, {"error", ev.error().to_string()}});
    else
      for (const auto& p : *ev) log_info(slog(), "evicted", {{"node", name}, {"pod", p}});
    return msg::shell_reply{};
  });
}

msg::machine_welcome on_hello(self_ptr self, const msg::machine_hello& h) {
  auto& st = self->state;
  msg::machine_welcome w;
  w.node_name = h.name;
  w.heartbeat_interval_ms = static_cast<uint32_t>(st.rt->opts.heartbeat_interval.count());
  auto refuse = [&](std::string why) {
    log_warn(slog(), "machine refused", {{"node", h.name}, {"reason", why}});
    w.reason = std::move(why);
    return w;
  };
  if (h.version != msg::wire_version)
    return refuse("wire version " + std::to_string(h.version) + " is not " +
                  std::to_string(msg::wire_version));
  if (!token_equal(h.token, st.rt->opts.token)) return refuse("invalid join token");
  if (!st.leader) return refuse("not the leader");
  auto sender = caf::actor_cast<msg::machine_actor>(self->current_sender());
  if (!sender) return refuse("hello without a machine actor");
  auto link = st.links.find(h.name);
  if (link != st.links.end() && link->second.handle == sender)  // the same machine says hello again
    st.registry.mark_lost(h.name, link->second.incarnation, "hello again");
  auto inc = st.registry.admit(h, now());
  if (!inc.ok()) return refuse(inc.error().message());
  self->monitor(sender);
  st.links[h.name] = {sender, *inc, now()};
  for (auto it = st.dispatched.begin(); it != st.dispatched.end();)
    it = it->second.node == h.name ? st.dispatched.erase(it) : std::next(it);
  log_info(slog(), "machine admitted",
           {{"node", h.name},
            {"slots", std::to_string(h.resources.slots)},
            {"running_pods", std::to_string(h.running_pod_uids.size())}});
  register_node_async(self, *st.registry.find(h.name));
  dispatch_all(self);
  w.accepted = true;
  return w;
}

void on_heartbeat(self_ptr self, const msg::machine_heartbeat& hb) {
  auto& st = self->state;
  auto link = st.links.find(hb.name);
  if (link == st.links.end()) return;  // not admitted (or lost): it must say hello
  auto outcome = st.registry.heartbeat(hb, now());
  if (outcome == heartbeat_outcome::revived) {
    register_node_async(self, *st.registry.find(hb.name));
    link->second.last_node_write = now();
  } else if (outcome == heartbeat_outcome::ok && st.leader &&
             now() - link->second.last_node_write > 10s) {
    link->second.last_node_write = now();
    auto* rt = st.rt;
    auto name = hb.name;
    run_blocking(self, [rt, name] {
      (void)ctl::node_heartbeat(*rt->client, name, rt->env.clock->now());
      return msg::shell_reply{};
    });
  }
}

// Writes one report (pool) and Events; report_done_atom comes back when it is written, so that
// the pod's next report is applied after it.
void apply_report(self_ptr self, const msg::pod_report& r) {
  auto& st = self->state;
  auto report = to_controller_report(r);
  auto pod = st.rt->cache("pod").get(r.ns, r.name);
  auto* rt = st.rt;
  json pod_obj = pod ? *pod : json();
  st.reports_in_flight.insert(r.uid);
  caf::actor me = caf::actor_cast<caf::actor>(self);
  rt->pool->submit([me, rt, r, rep = *report, pod_obj] {
    auto applied = ctl::apply_pod_report(*rt->client, r.ns, r.name, rep);
    if (!applied.ok()) {
      log_warn(slog(), "pod status write failed",
               {{"pod", r.ns + "/" + r.name}, {"error", applied.error().to_string()}});
    } else if (pod_obj.is_object() && rt->kubelet_events) {
      // What the machine saw (failed probes, a container killed for them), as the kubelet's.
      for (const auto& e : r.events)
        (void)rt->kubelet_events->record(
            pod_obj, e.type == "Warning" ? ctl::event_type::warning : ctl::event_type::normal,
            e.reason, e.message);
      // and what the status it changed says (a failure)
      if (*applied && r.phase == "Failed")
        (void)rt->kubelet_events->record(
            pod_obj, ctl::event_type::warning, "Failed",
            "exit code " + std::to_string(r.exit_code) + ": " + r.reason);
    }
    caf::anon_send(me, report_done_atom::value, r.uid);
  });
}

void on_report_done(self_ptr self, const std::string& uid) {
  auto& st = self->state;
  st.reports_in_flight.erase(uid);
  auto it = st.reports_waiting.find(uid);
  if (it == st.reports_waiting.end()) return;
  msg::pod_report next = std::move(it->second);
  st.reports_waiting.erase(it);
  if (st.leader) apply_report(self, next);
}

// The report's line in its pod's log (`kubectl logs`, the shell's `logs`). A report about an
// older pod of the same name (deleted, still stopping) is not this pod's.
void log_report(self_ptr self, const msg::pod_report& r) {
  auto& st = self->state;
  const std::string key = r.ns + "/" + r.name;
  auto pod = st.rt->cache("pod").get(r.ns, r.name);
  if (pod && k8s::string_field(ctl::member(*pod, "metadata"), "uid") != r.uid) return;
  // A container started again: its log so far is the previous container's.
  int32_t& logged = st.log_restarts[key];
  if (r.restart_count > logged && pod) {
    rotate_pod_log(st.rt->opts.home, *pod);
    st.logs.forget(key);  // (its repeats are the new container's lines)
  }
  logged = std::max(logged, r.restart_count);
  const std::string line = pod_report_log_line(r);
  if (!line.empty() && st.logs.add(key, line) && pod) append_pod_log(st.rt->opts.home, *pod, line);
}

void on_pod_report(self_ptr self, const msg::pod_report& r) {
  auto& st = self->state;
  log_report(self, r);
  if (!st.leader) return;
  if (!to_controller_report(r)) return;
  if (st.reports_in_flight.count(r.uid)) {  // the previous one is still being written
    auto [it, fresh] = st.reports_waiting.emplace(r.uid, r);
    if (!fresh) {  // the newer status wins; the events of both are kept, oldest first
      std::vector<msg::pod_event> events = std::move(it->second.events);
      events.insert(events.end(), r.events.begin(), r.events.end());
      it->second = r;
      it->second.events = std::move(events);
    }
    return;
  }
  apply_report(self, r);
}

}  // namespace kaito::actors::detail
