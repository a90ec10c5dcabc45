// A rate-limited work queue with controller-runtime semantics:
//   - a key is queued at most once (adds of a queued key coalesce);
//   - a key is never handed to two workers at once: adds while it is being processed mark it
//     dirty, and it is re-queued when the worker calls done();
//   - add_rate_limited(): per-key exponential backoff base * 2^failures, capped at max_delay;
//     forget() resets the count (call it on success);
//   - add_after(): the key becomes ready after a delay (requeue_after); the earliest wins;
//   - shut_down(): get() returns nullopt at once in every worker; later adds are ignored.
//
//   while (auto key = q.get()) { auto st = reconcile(*key);
//     if (st.ok()) q.forget(*key); else q.add_rate_limited(*key); q.done(*key); }
//
// Time comes from a clock_source (fake_clock in tests: call poll() or get_for() after advancing).
//
// Thread-safety: every method from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "k8s/client/clock.h"

namespace kaito::k8s {

struct rate_limit_options {
  std::chrono::nanoseconds base_delay = std::chrono::milliseconds(5);
  std::chrono::nanoseconds max_delay = std::chrono::seconds(1000);
};

class work_queue {
 public:
  explicit work_queue(rate_limit_options o = {},
                      std::shared_ptr<clock_source> clock = real_clock::instance());

  void add(const std::string& key);
  void add_after(const std::string& key, std::chrono::nanoseconds delay);
  void add_rate_limited(const std::string& key);          // add_after(key, when(key))
  std::chrono::nanoseconds when(const std::string& key);  // next backoff; counts a failure
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready (nullopt after shut_down). get_for gives up after `wait` of
  // real time (nullopt). try_get never blocks.
  std::optional<std::string> get();
  std::optional<std::string> get_for(std::chrono::milliseconds wait);
  std::optional<std::string> try_get();
  void done(const std::string& key);

  void shut_down();
  bool shutting_down() const;
  size_t len() const;      // ready keys
  size_t delayed() const;  // keys waiting for their time

 private:
  void add_locked(const std::string& key);
  void promote_locked();  // delayed keys whose time came -> ready
  std::optional<std::string> pop_locked();

  rate_limit_options o_;
  std::shared_ptr<clock_source> clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;                // queued or to be re-queued after done
  std::set<std::string> processing_;           // handed out, not done yet
  std::map<std::string, clock_time> waiting_;  // key -> ready time
  std::map<std::string, int> failures_;
  bool shutting_down_ = false;
};

}  // namespace kaito::k8s
