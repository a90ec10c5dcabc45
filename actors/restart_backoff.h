// restart_backoff: how long the supervisor waits before it respawns a reconcile actor that died
// (plain C++, no CAF; the supervisor actor owns one).
//
//   restart_backoff rb;                    // base 100 ms, cap 30 s, healthy after 10 min
//   rb.started(id, now);                   // at every spawn of the reconciler `id`
//   auto delay = rb.died(id, now);         // an abnormal exit: wait `delay`, then respawn
//   rb.forget(id);                         // a normal exit (the object is gone, or shutdown)
//
// Delays double per consecutive death: base * 2^n for the n-th (n from 1), capped at `cap`. A
// reconciler that ran for `healthy_after` before it died starts over at the first delay, as a
// Kubernetes container's crash-loop backoff resets after 10 minutes of running (kubelet). Deaths
// without a recorded start (started() never called) count as consecutive.
// Thread-safety: none (one owner). Time is passed in, so tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace kaito::actors {

class restart_backoff {
 public:
  using clock = std::chrono::steady_clock;
  using millis = std::chrono::milliseconds;

  explicit restart_backoff(millis base = millis(100), millis cap = millis(30000),
                           std::chrono::seconds healthy_after = std::chrono::minutes(10))
      : base_(base), cap_(cap), healthy_after_(healthy_after) {}

  void started(const std::string& id, clock::time_point now);
  millis died(const std::string& id, clock::time_point now);
  void forget(const std::string& id) { entries_.erase(id); }

  // Consecutive deaths counted for `id` (0 when none or reset).
  uint32_t deaths(const std::string& id) const;
  size_t size() const { return entries_.size(); }

 private:
  struct entry {
    uint32_t deaths = 0;
    clock::time_point started{};
    bool running = false;
  };
  millis base_, cap_;
  std::chrono::seconds healthy_after_;
  std::map<std::string, entry> entries_;
};

}  // namespace kaito::actors
