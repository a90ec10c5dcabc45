// workspace_actor: one actor per reconciled object (a Workspace; the same actor serves Jobs and
// StatefulSets), playing controller-runtime's reconcileHandler over a plain reconcile function
// (style.md habit 13). The queue semantics live in reconcile_queue.h:
//
//   (reconcile_atom) ───▶ queue.trigger() ──start──▶ executor(job) ── job runs the blocking
//        ▲                                                            reconcile off the scheduler
//        │ (timer_atom, seq) ◀── delayed_send(backoff | requeue_after)      │
//        │                                                                  ▼
//        └──────────── queue.done(...) ◀──── (done_atom, ok, error, requeue_ms)
//
// After every run it sends (stats_atom, "kind ns/name", reconciles, successes, errors, requeues,
// coalesced, warnings, last_error) to `stats` (when set), which `top` and describe show. A run that
// returns both an error and a requeue_after is logged as a warning (the error wins).
//
// Stop it with anon_send_exit(h, user_shutdown) when its object is gone; a reconcile still
// running finishes on the executor and its result is dropped.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "actors/k8s_pool.h"
#include "actors/reconcile_queue.h"
#include "caf/actor.hpp"

namespace kaito::actors {

struct reconcile_outcome {
  bool ok = true;
  std::string error;  // when !ok
  std::chrono::milliseconds requeue_after{0};
};

struct reconcile_actor_config {
  std::string kind;                              // "workspace", "job", "statefulset"
  std::string key;                               // "ns/name"
  std::function<reconcile_outcome()> reconcile;  // blocking; runs on `executor`, never on CAF's
  blocking_executor executor;
  backoff_options backoff;
  caf::actor stats;  // may be invalid: no stats sent
};

// Spawns the actor (not yet triggered: send reconcile_atom). `sys` must outlive it.
caf::actor spawn_reconcile_actor(caf::actor_system& sys, const reconcile_actor_config& cfg);

}  // namespace kaito::actors
