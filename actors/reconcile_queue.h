// reconcile_queue: controller-runtime's per-key queue semantics as a plain state machine, which
// the keyed reconcile actor (workspace_actor.h) drives with messages and timers:
//
//   trigger ──▶ idle? ──yes──▶ start (running)
//                 └─no (running)──▶ pending = true (coalesced: at most one pending)
//   done(ok, requeue_after=0)   ──▶ failures = 0; pending? start : idle
//   done(ok, requeue_after=d)   ──▶ failures = 0; arm timer d; pending? start : idle
//   done(error)                 ──▶ failures++; arm timer base*2^(failures-1) (capped);
//                                   warn if a requeue_after came back too; pending? start : idle
//   timer(seq) ──▶ seq is the armed one? treat as a trigger : ignore (a newer timer replaced it)
//
// Every done() disarms the previous timer (each arm bumps the sequence number): the latest
// outcome alone decides whether and when to run again, so at most one timer is live per key.
// Outcomes are counted for `top` and the metrics.
//
// Thread-safety: none (one owner). Copyable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kaito::actors {

struct reconcile_counters {
  uint64_t reconciles = 0;  // completed runs
  uint64_t successes = 0;
  uint64_t errors = 0;
  uint64_t requeues = 0;   // successful runs that asked for requeue_after
  uint64_t coalesced = 0;  // triggers folded into a pending run
  uint64_t warnings = 0;   // runs that returned both an error and a requeue_after
  std::string last_error;  // "" after a success
};

struct backoff_options {
  std::chrono::milliseconds base{100};
  std::chrono::milliseconds max{30000};
};

class reconcile_queue {
 public:
  explicit reconcile_queue(backoff_options b = {}) : backoff_(b) {}

  // What the owner must do after an event.
  struct action {
    bool start = false;                 // run the reconcile now
    std::chrono::milliseconds arm{-1};  // >= 0: arm a timer with this delay and `timer_seq`
    uint64_t timer_seq = 0;
    bool warn_error_and_requeue = false;  // log: the reconciler returned both
  };

  action trigger();
  // ok: the reconcile succeeded (error ignored); requeue_after: 0 = none.
  action done(bool ok, const std::string& error, std::chrono::milliseconds requeue_after);
  action timer(uint64_t seq);

  bool running() const { return running_; }
  bool pending() const { return pending_; }
  uint32_t failures() const { return failures_; }
  const reconcile_counters& counters() const { return counters_; }
  // The delay after the n-th consecutive failure (n >= 1).
  std::chrono::milliseconds backoff_delay(uint32_t n) const;

 private:
  backoff_options backoff_;
  bool running_ = false;
  bool pending_ = false;
  uint32_t failures_ = 0;
  uint64_t armed_seq_ = 0;  // 0: no timer armed
  uint64_t next_seq_ = 1;
  reconcile_counters counters_;
};

}  // namespace kaito::actors
