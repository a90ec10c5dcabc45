// The device self-test; see self_test.h.
#include "actors/self_test.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "kernels/gemm.h"

namespace kaito::actors {

namespace {

using clock_type = std::chrono::steady_clock;

// A splitmix64 step: the memory pattern's value for one word position.
uint64_t pattern_word(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct gemm_check {
  uint64_t checked = 0, errors = 0;
  float max_rel = 0;
};

// Compares a few elements of c = a·b (row-major, a: MxK, b: KxN) with fp64 dot products.
// Tolerance: fp32 accumulation over K terms stays within K * 2^-24 * sum|a b| (a loose bound;
// blocked sums do much better); we allow 1e-4 * sum|a b| + 1e-30, i.e. 25x the bound for K=512.
gemm_check check_gemm(const std::vector<float>& a, const std::vector<float>& b,
                      const std::vector<float>& c, int64_t M, int64_t N, int64_t K,
                      std::mt19937_64& rng) {
  gemm_check r;
  const int samples = 16;
  for (int s = 0; s < samples; ++s) {
    int64_t i = s == 0 ? 0 : s == 1 ? M - 1 : static_cast<int64_t>(rng() % M);
    int64_t j = s == 0 ? 0 : s == 1 ? N - 1 : static_cast<int64_t>(rng() % N);
    double ref = 0, mag = 0;
    for (int64_t k = 0; k < K; ++k) {
      double p = static_cast<double>(a[i * K + k]) * static_cast<double>(b[k * N + j]);
      ref += p;
      mag += std::fabs(p);
    }
    double got = c[i * N + j];
    double err = std::fabs(got - ref);
    double rel = err / (mag + 1e-30);
    if (!std::isfinite(got) || err > 1e-4 * mag + 1e-30) ++r.errors;
    if (!std::isfinite(rel) || rel > r.max_rel) r.max_rel = std::isfinite(rel) ? rel : 1e30f;
    ++r.checked;
  }
  return r;
}

std::string format_gflops(float g) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(g));
  return buf;
}

std::string gemm_shape(const self_test_options& o) {
  if (o.m == o.n && o.n == o.k) return std::to_string(o.m) + "^3";
  return std::to_string(o.m) + "x" + std::to_string(o.n) + "x" + std::to_string(o.k);
}

}  // namespace

void memory_pattern_fill(uint64_t* words, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; ++i) words[i] = pattern_word(seed, i);
}

uint64_t memory_pattern_verify(const uint64_t* words, size_t n, uint64_t seed) {
  uint64_t errors = 0;
  for (size_t i = 0; i < n; ++i) errors += words[i] != pattern_word(seed, i);
  return errors;
}

self_test_report run_self_test(const self_test_options& o, const std::atomic<bool>& cancel,
                               const std::function<void(const self_test_progress&)>& on_progress,
                               uint32_t progress_interval_ms) {
  self_test_report r;
  self_test_gemm_fn gemm = o.gemm ? o.gemm : &sgemm_cpu;
  const int64_t M = o.m, N = o.n, K = o.k;
  std::mt19937_64 rng(0x6b6169746fULL);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(M * K), b(K * N), c(M * N);
  for (auto& x : a) x = dist(rng);
  for (auto& x : b) x = dist(rng);
  const size_t words = static_cast<size_t>(o.memory_mib) * (1u << 20) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> mem(words ? new uint64_t[words] : nullptr);

  const auto start = clock_type::now();
  const auto duration = std::chrono::seconds(o.duration_seconds);
  auto last_progress = start;
  double gemm_seconds = 0;
  const double flops_per_product = 2.0 * static_cast<double>(M) * N * K;
  auto permille_now = [&] {
    if (o.duration_seconds == 0) return 1000u;
    auto el = std::chrono::duration<double>(clock_type::now() - start).count();
    double p = el / static_cast<double>(o.duration_seconds) * 1000.0;
    return static_cast<uint32_t>(p > 1000 ? 1000 : p);
  };
  auto rate = [&] {
    return gemm_seconds > 0
               ? static_cast<float>(flops_per_product * r.iterations / gemm_seconds / 1e9)
               : 0.0f;
  };
  while (!cancel.load(std::memory_order_relaxed)) {
    auto t0 = clock_type::now();
    gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    gemm_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
    gemm_check g = check_gemm(a, b, c, M, N, K, rng);
    r.gemm_checked += g.checked;
    r.gemm_errors += g.errors;
    if (g.max_rel > r.gemm_max_rel_error) r.gemm_max_rel_error = g.max_rel;
    ++r.iterations;
    if (cancel.load(std::memory_order_relaxed)) break;
    if (words) {
      uint64_t seed = rng();
      memory_pattern_fill(mem.get(), words, seed);
      r.memory_errors += memory_pattern_verify(mem.get(), words, seed);
      r.memory_bytes_checked += words * sizeof(uint64_t);
    }
    auto now = clock_type::now();
    bool finished = o.duration_seconds == 0 || now - start >= duration;
    if (on_progress && !finished &&
        now - last_progress >= std::chrono::milliseconds(progress_interval_ms)) {
      last_progress = now;
      self_test_progress p;
      p.iterations = r.iterations;
      p.permille = permille_now();
      p.gflops = rate();
      auto el = std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
      p.text = "gemm " + gemm_shape(o) + " " + format_gflops(p.gflops) + " GFLOP/s, " +
               std::to_string(el) + "/" + std::to_string(o.duration_seconds) + " s";
      on_progress(p);
    }
    if (finished || r.gemm_errors || r.memory_errors) break;
  }
  r.cancelled = cancel.load(std::memory_order_relaxed);
  r.gflops = rate();
  r.message = "gemm " + gemm_shape(o) + " x " + std::to_string(r.iterations) + " iterations " +
              format_gflops(r.gflops) + " GFLOP/s";
  if (r.gemm_errors)
    r.message += " (" + std::to_string(r.gemm_errors) + " of " + std::to_string(r.gemm_checked) +
                 " checked elements wrong)";
  r.message += "; memory " + std::to_string(o.memory_mib) + " MiB " +
               (r.memory_errors ? std::to_string(r.memory_errors) + " words wrong" : "verified");
  if (r.cancelled) r.message += "; cancelled";
  r.ok = !r.cancelled && r.gemm_errors == 0 && r.memory_errors == 0 && r.iterations > 0;
  return r;
}

}  // namespace kaito::actors
