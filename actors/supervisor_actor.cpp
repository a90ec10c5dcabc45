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
// The shell requests live in supervisor_shell.cpp, machines and pods in supervisor_machines.cpp,
// the shared state in supervisor_state.h.
#include <set>

#include "actors/node_registry.h"
#include "actors/shell_commands.h"
#include "actors/supervisor_actions.h"
#include "actors/supervisor_atoms.h"
#include "actors/supervisor_machines.h"
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
