// Rate-limited work queue; see work_queue.h.
#include "k8s/client/work_queue.h"

#include <algorithm>
#include <cstdint>

namespace kaito::k8s {

work_queue::work_queue(rate_limit_options o, std::shared_ptr<clock_source> clock)
    : o_(o), clock_(std::move(clock)) {}

void work_queue::add_locked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // re-queued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void work_queue::add(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  add_locked(key);
}

void work_queue::add_after(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard<std::mutex> l(mu_);
  if (shutting_down_) return;
  if (delay <= std::chrono::nanoseconds::zero()) {
    add_locked(key);
    return;
  }
  clock_time at = clock_->now() + delay;
  auto it = waiting_.find(key);
  if (it == waiting_.end() || at < it->second) waiting_[key] = at;
  cv_.notify_all();
}

std::chrono::nanoseconds work_queue::when(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  int n = failures_[key]++;
  if (n >= 62) return o_.max_delay;
  auto d = o_.base_delay * (int64_t{1} << std::min(n, 40));
  return std::min<std::chrono::nanoseconds>(d, o_.max_delay);
}

void work_queue::add_rate_limited(const std::string& key) {
  add_after(key, when(key));
}

void work_queue::forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  failures_.erase(key);
}

int work_queue::num_requeues(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void work_queue::promote_locked() {
  clock_time now = clock_->now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second <= now) {
      std::string key = it->first;
      it = waiting_.erase(it);
      add_locked(key);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> work_queue::pop_locked() {
  promote_locked();
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

std::optional<std::string> work_queue::try_get() {
  std::lock_guard<std::mutex> l(mu_);
  if (shutting_down_) return std::nullopt;
  return pop_locked();
}

std::optional<std::string> work_queue::get_for(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock<std::mutex> l(mu_);
  while (!shutting_down_) {
    if (auto k = pop_locked()) return k;
    // Delayed keys: wake at the earliest one (re-checked at least every 20 ms, for fake clocks).
    auto step = std::chrono::milliseconds(20);
    if (!waiting_.empty()) {
      clock_time first = std::min_element(waiting_.begin(), waiting_.end(), [](auto& a, auto& b) {
                           return a.second < b.second;
                         })->second;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(first - clock_->now());
      step = std::clamp(left, std::chrono::milliseconds(0), step);
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    cv_.wait_for(l, std::min<std::chrono::steady_clock::duration>(step, deadline - now));
  }
  return std::nullopt;
}

std::optional<std::string> work_queue::get() {
  while (true) {
    if (auto k = get_for(std::chrono::hours(1))) return k;
    if (shutting_down()) return std::nullopt;
  }
}

void work_queue::done(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void work_queue::shut_down() {
  std::lock_guard<std::mutex> l(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool work_queue::shutting_down() const {
  std::lock_guard<std::mutex> l(mu_);
  return shutting_down_;
}

size_t work_queue::len() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

size_t work_queue::delayed() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiting_.size();
}

}  // namespace kaito::k8s
