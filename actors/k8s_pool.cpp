// k8s_pool; see k8s_pool.h.
#include "actors/k8s_pool.h"

namespace kaito::actors {

k8s_pool::k8s_pool(size_t threads) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

k8s_pool::~k8s_pool() {
  shutdown();
}

void k8s_pool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void k8s_pool::shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

size_t k8s_pool::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return jobs_.size();
}

void k8s_pool::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace kaito::actors
