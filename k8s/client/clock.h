// Time for the work queue and leader election, injectable for tests: real_clock reads
// steady_clock and sleeps; fake_clock only moves when a test advances it.
//
// Thread-safety: both are safe to use from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

namespace kaito::k8s {

using clock_time = std::chrono::steady_clock::time_point;

class clock_source {
 public:
  virtual ~clock_source() = default;
  virtual clock_time now() const = 0;
};

class real_clock : public clock_source {
 public:
  clock_time now() const override { return std::chrono::steady_clock::now(); }
  static std::shared_ptr<clock_source> instance() {
    static auto c = std::make_shared<real_clock>();
    return c;
  }
};

class fake_clock : public clock_source {
 public:
  clock_time now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return t_;
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    t_ += d;
  }

 private:
  mutable std::mutex mu_;
  clock_time t_{};
};

}  // namespace kaito::k8s
