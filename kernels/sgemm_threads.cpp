// SGEMM worker pool (contract: kernels/sgemm_threads.h).
#include "kernels/sgemm_threads.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

namespace kaito {
namespace {

constexpr int kMaxThreads = 32;  // one claim bit per worker in pool::claim_
constexpr auto kSpin = std::chrono::microseconds(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int env_threads(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n > 0) ? int(n < kMaxThreads ? n : kMaxThreads) : 0;
}

int configured_threads() {
  for (const char* name : {"KAITO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"})
    if (int n = env_threads(name)) return n;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n < kMaxThreads ? n : kMaxThreads;
  }
  unsigned h = std::thread::hardware_concurrency();
  return h == 0 ? 1 : int(h < kMaxThreads ? h : kMaxThreads);
}

std::atomic<int> g_override{0};

// Waits until `a` differs from `old`: spins kSpin, then sleeps on the futex.
template <typename T>
T wait_change(const std::atomic<T>& a, T old) {
  T v = a.load(std::memory_order_acquire);
  if (v != old) return v;
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    cpu_relax();
    v = a.load(std::memory_order_acquire);
    if (v != old) return v;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) break;
  }
  while ((v = a.load(std::memory_order_acquire)) == old) a.wait(old, std::memory_order_acquire);
  return v;
}

// Regions are numbered; claim_ holds (region << 32) | kClosed | one bit per worker that joined.
// A worker joins a region by setting its bit while the region is current and open; the caller,
// after its own part, closes the region and waits only for the workers that joined (a worker
// that has not been scheduled yet, e.g. on a loaded machine, is not waited for: the pieces are
// taken dynamically by whoever runs).
class pool {
 public:
  ~pool() {
    stop_ = true;
    gen_.fetch_add(1, std::memory_order_release);
    gen_.notify_all();
    for (auto& w : workers_) w.join();
  }

  void run(int n, sgemm_task fn, void* ctx) {
    bool expected = false;
    if (n <= 1 || !busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      for (int t = 0; t < n; ++t) fn(ctx, t);
      return;
    }
    while (int(workers_.size()) < n - 1) {
      const int id = int(workers_.size()) + 1;
      const uint32_t seen = gen_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, id, seen] { loop(id, seen); });
    }
    const uint32_t region = gen_.load(std::memory_order_relaxed) + 1;
    fn_ = fn;
    ctx_ = ctx;
    active_ = n;
    done_.store(0, std::memory_order_relaxed);
    claim_.store(uint64_t(region) << 32, std::memory_order_relaxed);
    gen_.store(region, std::memory_order_release);
    gen_.notify_all();
    fn(ctx, 0);
    const uint64_t joined =
        claim_.fetch_or(kClosed, std::memory_order_acq_rel) & 0xFFFFFFFFull & ~kClosed;
    const int waiting = __builtin_popcountll(joined);
    for (int d = done_.load(std::memory_order_acquire); d != waiting;
         d = done_.load(std::memory_order_acquire))
      wait_change(done_, d);
    busy_.store(false, std::memory_order_release);
  }

 private:
  static constexpr uint64_t kClosed = 1;

  void loop(int id, uint32_t seen) {
    for (;;) {
      seen = wait_change(gen_, seen);
      if (stop_) return;
      if (id >= active_) continue;
      const uint64_t bit = uint64_t(1) << id;
      uint64_t w = claim_.load(std::memory_order_acquire);
      bool joined = false;
      while ((w >> 32) == seen && !(w & kClosed)) {
        if (claim_.compare_exchange_weak(w, w | bit, std::memory_order_acq_rel)) {
          joined = true;
          break;
        }
      }
      if (!joined) continue;  // closed before we ran, or a newer region is already open
      fn_(ctx_, id);
      done_.fetch_add(1, std::memory_order_acq_rel);
      done_.notify_one();
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<uint32_t> gen_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  std::vector<std::thread> workers_;
  sgemm_task fn_ = nullptr;
  void* ctx_ = nullptr;
  int active_ = 0;
  bool stop_ = false;
};

pool& the_pool() {
  static pool p;
  return p;
}

}  // namespace

int sgemm_threads() {
  static const int configured = configured_threads();
  int o = g_override.load(std::memory_order_relaxed);
  return o > 0 ? o : configured;
}

void sgemm_set_threads(int n) {
  g_override.store(n > 0 ? (n < kMaxThreads ? n : kMaxThreads) : 0, std::memory_order_relaxed);
}

void sgemm_parallel(int n, sgemm_task fn, void* ctx) {
  the_pool().run(n, fn, ctx);
}

}  // namespace kaito
