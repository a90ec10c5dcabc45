// The supervisor's behaviour (see supervisor.h). One untyped actor, published through the typed
// handle msg::supervisor_actor; its internal messages (informer events, timers, pool results)
// are atoms + strings + integers (supervisor_atoms.h).
//
//          ┌──────────── (leader_atom, true) ───────────┐
//   follower: refuses hellos ("not the leader"),        leader: reconcile actors per object,
//   serves the shell from its caches   ◀── (leader_atom, false): reconcilers stopped ──┘
//
//   machine_hello ─ token, leader, name ─▶ admitted: Node registered (pool), handle monitored,
//                                          its bound pods dispatched (run_pod)
//   heartbeats ── silent > node_timeout or handle down ──▶ lost: Node NotReady, pods evicted
//   pod events / tick ──▶ run_pod for bound, non-terminal, not yet running pods; stop_pod on delete
//   pod_report ──▶ apply_pod_report (pool, one at a time per pod, in order) + Events; progress
//                  lines kept for `logs`
//
// Blocking k8s calls run on rt->pool; their results come back as (k8s_done_atom, id, code, text).
// The shell requests live in supervisor_shell.cpp, the shared state in supervisor_state.h.
#include <filesystem>
#include <fstream>
#include <set>

#include "actors/node_registry.h"
#include "actors/pod_volumes.h"
#include "actors/shell_commands.h"
#include "actors/supervisor_actions.h"
#include "actors/supervisor_atoms.h"
#include "actors/supervisor_pods.h"
#include "actors/supervisor_runtime.h"
#include "actors/supervisor_state.h"
#include "actors/token.h"
#include "actors/workspace_actor.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "k8s/controllers/endpoints_controller.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/pod_status.h"
#include "k8s/controllers/statefulset_controller.h"
#include "k8s/controllers/workspace_controller.h"

namespace kaito::actors {

namespace detail {

namespace ctl = k8s::controllers;
using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> slog() {
  return logger("supervisor");
}

// Runs `fn` (blocking) on the pool; its text/exit code answers the promise, when one is given.
void run_blocking(self_ptr self, std::function<msg::shell_reply()> fn,
                  std::optional<caf::response_promise> rp) {
  uint64_t id = 0;
  if (rp) {
    id = self->state.next_id++;
    self->state.pending.emplace(id, std::move(*rp));
  }
  caf::actor me = caf::actor_cast<caf::actor>(self);
  self->state.rt->pool->submit([me, id, fn = std::move(fn)] {
    auto r = fn();
    if (id != 0) caf::anon_send(me, k8s_done_atom::value, id, r.exit_code, r.text);
  });
}

msg::shell_reply text_reply(int code, std::string text) {
  msg::shell_reply r;
  r.exit_code = code;
  r.text = std::move(text);
  return r;
}

// --- reconcilers -------------------------------------------------------------------------------

reconcile_outcome run_reconcile(supervisor_runtime* rt, const std::string& kind,
                                const std::string& key) {
  auto [ns, name] = ctl::split_key(key);
  result<ctl::reconcile_result> r = ctl::reconcile_result{};
  if (kind == "workspace")
    r = ctl::reconcile_workspace(rt->env, ns, name);
  else if (kind == "job")
    r = ctl::reconcile_job(rt->env, ns, name);
  else if (kind == "endpoints")
    r = ctl::reconcile_endpoints(rt->env, ns, name);
  else
    r = ctl::reconcile_statefulset(rt->env, ns, name);
  reconcile_outcome o;
  if (r.ok()) {
    o.requeue_after = r->requeue_after;
    return o;
  }
  if (ctl::is_terminal(r.error())) {  // a retry cannot help (controller-runtime TerminalError)
    log_warn(slog(), "reconcile failed terminally",
             {{"kind", kind}, {"key", key}, {"error", r.error().to_string()}});
    return o;
  }
  o.ok = false;
  o.error = r.error().to_string();
  return o;
}

void trigger(self_ptr self, const std::string& kind, const std::string& key) {
  if (!self->state.leader || key.empty()) return;
  std::string id = kind + " " + key;
  auto it = self->state.reconcilers.find(id);
  if (it == self->state.reconcilers.end()) {
    reconcile_actor_config c;
    c.kind = kind;
    c.key = key;
    auto* rt = self->state.rt;
    c.backoff = rt->opts.reconcile_backoff;
    c.reconcile = [rt, kind, key] { return run_reconcile(rt, kind, key); };
    std::shared_ptr<k8s_pool> pool = rt->pool;
    c.executor = [pool](std::function<void()> job) { pool->submit(std::move(job)); };
    c.stats = caf::actor_cast<caf::actor>(self);
    auto h = spawn_reconcile_actor(self->system(), c);
    self->monitor(h);
    self->link_to(h);  // the reconcilers end with the supervisor
    self->state.restarts.started(id, now());
    it = self->state.reconcilers.emplace(id, h).first;
  }
  self->send(it->second, reconcile_atom::value);
}

// The object a reconciler of `kind` is about: Endpoints reconcilers are keyed by Service.
const char* keyed_by(const std::string& kind) {
  return kind == "endpoints" ? "service" : kind.c_str();
}

void trigger_all(self_ptr self) {
  // Endpoints left by a deleted Service are found through the endpoints cache.
  for (const auto& [kind, cache] : {std::pair{"workspace", "workspace"},
                                    {"job", "job"},
                                    {"statefulset", "statefulset"},
                                    {"endpoints", "service"},
                                    {"endpoints", "endpoints"}})
    for (const auto& o : self->state.rt->cache(cache).list())
      trigger(self, kind,
              ctl::make_key(o["metadata"].value("namespace", ""), o["metadata"].value("name", "")));
}

void stop_reconcilers(self_ptr self) {
  for (auto& [id, h] : self->state.reconcilers) {
    self->demonitor(h);
    self->unlink_from(h);
    self->send_exit(h, caf::exit_reason::user_shutdown);
  }
  self->state.reconcilers.clear();
}

// Stops reconcilers whose object has been gone from the cache for 2 s.
void collect_reconcilers(self_ptr self) {
  auto& st = self->state;
  for (auto it = st.reconcilers.begin(); it != st.reconcilers.end();) {
    auto sp = it->first.find(' ');
    auto kind = it->first.substr(0, sp);
    auto [ns, name] = ctl::split_key(it->first.substr(sp + 1));
    if (st.rt->cache(keyed_by(kind)).get(ns, name)) {
      st.absent_ticks.erase(it->first);
      ++it;
      continue;
    }
    if (++st.absent_ticks[it->first] < 4) {
      ++it;
      continue;
    }
    st.absent_ticks.erase(it->first);
    st.restarts.forget(it->first);  // the object is gone: so is its crash history
    self->demonitor(it->second);
    self->unlink_from(it->second);
    self->send_exit(it->second, caf::exit_reason::user_shutdown);
    it = st.reconcilers.erase(it);
  }
}

// --- machines and pods -------------------------------------------------------------------------

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
        if (rt->events)
          (void)rt->events->record(pod, ctl::event_type::warning, "FailedMount",
                                   "MountVolume.SetUp failed: " + why);
        return msg::shell_reply{};
      },
      std::nullopt);
  return false;
}

void dispatch_pod(self_ptr self, const json& pod) {
  auto& st = self->state;
  auto run = run_pod_for(pod, st.registry, st.dispatched);
  if (!run) return;
  auto link = st.links.find(pod["spec"].value("nodeName", ""));
  if (link == st.links.end()) return;
  if (!project_volumes(self, pod, *run)) return;
  st.dispatched[run->uid] = {link->first, run->ns + "/" + run->name};
  log_info(slog(), "run pod",
           {{"pod", run->ns + "/" + run->name}, {"node", link->first}, {"uid", run->uid}});
  self->send(link->second.handle, std::move(*run));
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
  if (deleted) st.logs.forget(key);
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

void append_pod_log(const supervisor_runtime* rt, const json& pod, const std::string& line) {
  if (rt->opts.home.empty()) return;
  std::string container = "main";
  const auto& spec = pod["spec"];
  if (spec.contains("containers") && spec["containers"].is_array() && !spec["containers"].empty() &&
      spec["containers"][0].is_object())
    container = spec["containers"][0].value("name", container);
  namespace fs = std::filesystem;
  fs::path dir = fs::path(rt->opts.home) / "logs" / pod["metadata"].value("namespace", "") /
                 pod["metadata"].value("name", "");
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(dir / (container + ".log"), std::ios::app);
  out << line << "\n";
}

// Writes one report (pool) and Events; report_done_atom comes back when it is written, so that
// the pod's next report is applied after it.
void apply_report(self_ptr self, const msg::pod_report& r) {
  auto& st = self->state;
  auto report = to_controller_report(r);
  auto pod = st.rt->cache("pod").get(r.ns, r.name);
  int32_t prior_restarts = 0;
  if (pod && (*pod)["status"].is_object() && (*pod)["status"].contains("containerStatuses") &&
      (*pod)["status"]["containerStatuses"].is_array() &&
      !(*pod)["status"]["containerStatuses"].empty())
    prior_restarts = (*pod)["status"]["containerStatuses"][0].value("restartCount", 0);
  auto* rt = st.rt;
  json pod_obj = pod ? *pod : json();
  st.reports_in_flight.insert(r.uid);
  caf::actor me = caf::actor_cast<caf::actor>(self);
  rt->pool->submit([me, rt, r, rep = *report, pod_obj, prior_restarts] {
    auto applied = ctl::apply_pod_report(*rt->client, r.ns, r.name, rep);
    if (!applied.ok()) {
      log_warn(slog(), "pod status write failed",
               {{"pod", r.ns + "/" + r.name}, {"error", applied.error().to_string()}});
    } else if (*applied && pod_obj.is_object() && rt->events) {
      if (r.restart_count > prior_restarts)
        (void)rt->events->record(pod_obj, ctl::event_type::warning, "BackOff",
                                 "Back-off restarting failed container (restart " +
                                     std::to_string(r.restart_count) + ", exit " +
                                     std::to_string(r.exit_code) + ")");
      if (r.phase == "Failed")
        (void)rt->events->record(pod_obj, ctl::event_type::warning, "Failed",
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

void on_pod_report(self_ptr self, const msg::pod_report& r) {
  auto& st = self->state;
  std::string key = r.ns + "/" + r.name;
  auto pod = st.rt->cache("pod").get(r.ns, r.name);
  std::string line = r.progress.empty() ? "" : r.progress;
  if (r.phase == "Succeeded" || r.phase == "Failed")
    line = r.phase + " exit=" + std::to_string(r.exit_code) + " " + r.reason +
           (r.message.empty() ? "" : ": " + r.message);
  if (!line.empty() && st.logs.add(key, line) && pod) append_pod_log(st.rt, *pod, line);
  if (!st.leader) return;
  if (!to_controller_report(r)) return;
  if (st.reports_in_flight.count(r.uid)) {  // the previous one is still being written
    st.reports_waiting[r.uid] = r;
    return;
  }
  apply_report(self, r);
}

// --- behaviour ---------------------------------------------------------------------------------

void on_down(self_ptr self, const caf::down_msg& d) {
  auto& st = self->state;
  for (auto it = st.reconcilers.begin(); it != st.reconcilers.end(); ++it) {
    if (it->second.address() != d.source) continue;
    std::string id = it->first;
    st.reconcilers.erase(it);
    if (d.reason == caf::exit_reason::user_shutdown || d.reason == caf::exit_reason::normal) {
      st.restarts.forget(id);
      return;
    }
    auto delay = st.restarts.died(id, now());
    log_warn(slog(), "reconciler died; restarting",
             {{"reconciler", id},
              {"reason", caf::to_string(d.reason)},
              {"deaths_in_a_row", std::to_string(st.restarts.deaths(id))},
              {"in_ms", std::to_string(delay.count())}});
    auto sp = id.find(' ');
    self->delayed_send(self, delay, event_atom::value, id.substr(0, sp), id.substr(sp + 1));
    return;
  }
  for (auto& [name, link] : st.links) {
    if (link.handle.address() != d.source) continue;
    std::string n = name;
    if (st.registry.mark_lost(n, link.incarnation,
                              "machine actor down: " + caf::to_string(d.reason)))
      lose_machine(self, n, "machine actor down", true);
    return;
  }
}

// The node-lifecycle sweep (leader only), for what one-shot reactions miss:
//  - a pod bound to a NotReady (or vanished) Node after the eviction ran (a Job reconcile that
//    read a stale Node cache) is evicted too;
//  - a machine Node still Ready whose machine never said hello to this supervisor (it died while
//    the previous leader ran) turns NotReady once node_timeout has passed since we lead.
// Each node is acted on at most every 2 s.
void repair_nodes(self_ptr self) {
  auto& st = self->state;
  if (!st.leader) return;
  auto t = now();
  auto due = [&](const std::string& node) {
    auto it = st.node_repairs.find(node);
    if (it != st.node_repairs.end() && t - it->second < 2s) return false;
    st.node_repairs[node] = t;
    return true;
  };
  std::map<std::string, bool> ready;  // node -> Ready in the cache
  for (const auto& n : st.rt->cache("node").list()) {
    std::string name = n["metadata"].value("name", "");
    ready[name] = ctl::node_ready(n);
    if (ready[name] && ctl::node_label(n, "kaito.sh/machine") == "true" &&
        st.registry.find(name) == nullptr && t - st.leading_since > 2 * st.rt->opts.node_timeout &&
        due(name)) {
      lose_machine(self, name, "machine not connected to this supervisor", true);
    }
  }
  std::set<std::string> stranded;
  for (const auto& p : st.rt->cache("pod").list()) {
    std::string node = p["spec"].is_object() ? p["spec"].value("nodeName", "") : "";
    if (node.empty() || ctl::pod_terminal(p) || p["metadata"].contains("deletionTimestamp"))
      continue;
    auto it = ready.find(node);
    if (it == ready.end() || !it->second) stranded.insert(node);
  }
  auto* rt = st.rt;
  for (const auto& node : stranded) {
    if (!due(node)) continue;
    run_blocking(self, [rt, node] {
      auto ev = ctl::evict_pods_from_node(*rt->client, node, "NodeNotReady", rt->events.get());
      if (ev.ok())
        for (const auto& p : *ev) log_info(slog(), "evicted", {{"node", node}, {"pod", p}});
      return msg::shell_reply{};
    });
  }
}

void on_tick(self_ptr self) {
  auto& st = self->state;
  for (const auto& name : st.registry.expire(now()))
    lose_machine(self, name, "no heartbeat", false);
  collect_reconcilers(self);
  dispatch_all(self);
  repair_nodes(self);
  self->delayed_send(self, 500ms, tick_atom::value);
}

caf::behavior supervisor_behavior(self_ptr self, supervisor_runtime* rt) {
  self->state.rt = rt;
  self->state.registry = node_registry(rt->opts.node_timeout);
  self->set_down_handler([=](caf::down_msg& d) { on_down(self, d); });
  // A reconciler's death is handled by the down handler (restart with backoff); any other exit
  // (user_shutdown from stop()) ends the supervisor and, through the links, its reconcilers.
  // (Stopped reconcilers are unlinked first, so a user_shutdown exit is always the stop().)
  self->set_exit_handler([=](caf::exit_msg& m) {
    if (m.reason == caf::exit_reason::user_shutdown) self->quit(m.reason);
  });
  self->send(self, tick_atom::value);
  return {
      [=](const msg::machine_hello& h) { return on_hello(self, h); },
      [=](const msg::machine_heartbeat& hb) { on_heartbeat(self, hb); },
      [=](const msg::pod_report& r) { on_pod_report(self, r); },
      [=](report_done_atom, const std::string& uid) { on_report_done(self, uid); },
      [=](const msg::shell_request& r) { return on_shell(self, r); },
      [=](const msg::shell_complete& c) {
        msg::shell_completions out;
        if (token_equal(c.token, self->state.rt->opts.token))
          out.words = shell_completions_for(c.line, snapshot(self));
        return out;
      },
      [=](event_atom, const std::string& kind, const std::string& key) {
        if (kind == "pod" || kind == "pod-deleted")
          on_pod_event(self, key, kind == "pod-deleted");
        else if (kind == "resync")
          trigger_all(self);
        else
          trigger(self, kind, key);
      },
      [=](leader_atom, bool leading) {
        if (leading == self->state.leader) return;
        self->state.leader = leading;
        self->state.leading_since = now();
        log_info(slog(), leading ? "leading" : "lost leadership",
                 {{"identity", rt->opts.identity}});
        if (leading) {
          trigger_all(self);
          dispatch_all(self);
        } else {
          stop_reconcilers(self);
        }
      },
      [=](tick_atom) { on_tick(self); },
      [=](stats_atom, const std::string& id, uint64_t runs, uint64_t successes, uint64_t errors,
          uint64_t requeues, uint64_t coalesced, uint64_t warnings, const std::string& last) {
        auto& c = self->state.stats[id];
        c.reconciles = runs;
        c.successes = successes;
        c.errors = errors;
        c.requeues = requeues;
        c.coalesced = coalesced;
        c.warnings = warnings;
        c.last_error = last;
      },
      [=](k8s_done_atom, uint64_t id, int32_t code, const std::string& text) {
        auto it = self->state.pending.find(id);
        if (it == self->state.pending.end()) return;
        it->second.deliver(text_reply(code, text));
        self->state.pending.erase(it);
      },
  };
}

}  // namespace detail

caf::actor spawn_supervisor_actor(caf::actor_system& sys, supervisor_runtime* rt) {
  return sys.spawn(detail::supervisor_behavior, rt);
}

}  // namespace kaito::actors
