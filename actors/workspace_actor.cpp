// workspace_actor; see workspace_actor.h.
#include "actors/workspace_actor.h"

#include <utility>

#include "actors/supervisor_atoms.h"
#include "base/log.h"
#include "caf/all.hpp"

namespace kaito::actors {

namespace {

struct reconcile_state {
  reconcile_actor_config cfg;
  caf::actor stats;
  reconcile_queue queue;
  static inline const char* name = "kaito.reconcile";
};

using reconcile_self = caf::stateful_actor<reconcile_state>*;

void start_run(reconcile_self self) {
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto fn = self->state.cfg.reconcile;
  self->state.cfg.executor([me, fn] {
    reconcile_outcome o;
    try {
      o = fn();
    } catch (const std::exception& e) {  // a reconciler must not throw; never let it kill a thread
      o.ok = false;
      o.error = std::string("exception: ") + e.what();
    } catch (...) {  // not a std::exception: it would end the pool's thread, and the process
      o.ok = false;
      o.error = "exception: unknown";
    }
    caf::anon_send(me, done_atom::value, o.ok, o.error,
                   static_cast<int64_t>(o.requeue_after.count()));
  });
}

void apply(reconcile_self self, const reconcile_queue::action& a) {
  if (a.warn_error_and_requeue)
    log_warn(logger("reconcile"),
             "reconciler returned both an error and a requeue_after; using the backoff",
             {{"kind", self->state.cfg.kind}, {"key", self->state.cfg.key}});
  if (a.arm.count() >= 0)
    self->delayed_send(self, a.arm, timer_atom::value, static_cast<uint64_t>(a.timer_seq));
  if (a.start) start_run(self);
}

void publish_stats(reconcile_self self) {
  if (!self->state.stats) return;
  const auto& c = self->state.queue.counters();
  self->send(self->state.stats, stats_atom::value, self->state.cfg.kind + " " + self->state.cfg.key,
             c.reconciles, c.successes, c.errors, c.requeues, c.coalesced, c.warnings,
             c.last_error);
}

caf::behavior reconcile_actor(reconcile_self self, reconcile_actor_config cfg) {
  self->state.stats = cfg.stats;
  self->state.queue = reconcile_queue(cfg.backoff);
  self->state.cfg = std::move(cfg);
  return {
      [=](reconcile_atom) { apply(self, self->state.queue.trigger()); },
      [=](timer_atom, uint64_t seq) { apply(self, self->state.queue.timer(seq)); },
      [=](done_atom, bool ok, const std::string& error, int64_t requeue_ms) {
        if (!ok)
          log_warn(
              logger("reconcile"), "reconcile failed",
              {{"kind", self->state.cfg.kind}, {"key", self->state.cfg.key}, {"error", error}});
        auto a = self->state.queue.done(ok, error, std::chrono::milliseconds(requeue_ms));
        publish_stats(self);
        apply(self, a);
      },
  };
}

}  // namespace

caf::actor spawn_reconcile_actor(caf::actor_system& sys, const reconcile_actor_config& cfg) {
  return sys.spawn(reconcile_actor, cfg);
}

}  // namespace kaito::actors
