// reconcile_queue; see reconcile_queue.h.
#include "actors/reconcile_queue.h"

namespace kaito::actors {

std::chrono::milliseconds reconcile_queue::backoff_delay(uint32_t n) const {
  auto d = backoff_.base;
  for (uint32_t i = 1; i < n && d < backoff_.max; ++i) d *= 2;
  return d < backoff_.max ? d : backoff_.max;
}

reconcile_queue::action reconcile_queue::trigger() {
  action a;
  if (running_) {
    if (pending_) ++counters_.coalesced;
    pending_ = true;
    return a;
  }
  running_ = true;
  a.start = true;
  return a;
}

reconcile_queue::action reconcile_queue::done(bool ok, const std::string& error,
                                              std::chrono::milliseconds requeue_after) {
  action a;
  running_ = false;
  armed_seq_ = 0;  // the latest outcome decides the timer: an older one never fires
  ++counters_.reconciles;
  if (ok) {
    ++counters_.successes;
    counters_.last_error.clear();
    failures_ = 0;
    if (requeue_after.count() > 0) {
      ++counters_.requeues;
      a.arm = requeue_after;
    }
  } else {
    ++counters_.errors;
    counters_.last_error = error;
    ++failures_;
    a.arm = backoff_delay(failures_);
    a.warn_error_and_requeue = requeue_after.count() > 0;
    if (a.warn_error_and_requeue) ++counters_.warnings;
  }
  if (a.arm.count() >= 0) {
    armed_seq_ = next_seq_++;
    a.timer_seq = armed_seq_;
  }
  if (pending_) {
    pending_ = false;
    running_ = true;
    a.start = true;
  }
  return a;
}

reconcile_queue::action reconcile_queue::timer(uint64_t seq) {
  if (seq == 0 || seq != armed_seq_) return {};
  armed_seq_ = 0;
  return trigger();
}

}  // namespace kaito::actors
