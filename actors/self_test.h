// The device self-test: the node health check and, until the engine lands, the one real work
// unit a gpu_worker runs (`--task=self-test` / `--task=serve-self-test`).
//
//   gemm:   c(M,N) = a(M,K) · b(K,N) through kernels/gemm.h's sgemm_cpu, repeated; a few
//           elements are checked against a double-precision dot product (a broken GEMM fails
//           the test), the rate is reported in GFLOP/s (2*M*N*K flops per product).
//   memory: write a position-dependent 64-bit pattern over --memory-mib MiB, read it back and
//           count the words that differ.
//   One iteration = one product + one memory pass; iterations repeat until --duration-seconds
//   have passed (0: exactly one iteration) or the run is cancelled.
//
// Work-unit flags (actors/work_args.h parses them):
//   --task=self-test|serve-self-test  (required)      --duration-seconds=N  (0..86400, default 0)
//   --gemm-size=N (M=N=K, default 512)  --gemm-m/--gemm-n/--gemm-k=N (1..8192)
//   --memory-mib=N (0..65536, default 64)
//
// Pure: no CAF, no threads of its own; thread-compatible (one run per caller thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::actors {

// The GEMM the burn-in calls; sgemm_cpu's signature (row-major, no transposes used).
using self_test_gemm_fn = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                                   float alpha, const float* a, int64_t lda, const float* b,
                                   int64_t ldb, float beta, float* c, int64_t ldc);

struct self_test_options {
  int64_t m = 512, n = 512, k = 512;
  uint32_t memory_mib = 64;
  uint32_t duration_seconds = 0;     // 0 = one iteration
  self_test_gemm_fn gemm = nullptr;  // nullptr = kernels' sgemm_cpu
};

struct self_test_progress {
  uint64_t iterations = 0;
  uint32_t permille = 0;  // elapsed / duration (1000 when done)
  float gflops = 0;       // mean rate so far
  std::string text;       // "gemm 512^3 41.2 GFLOP/s, 3/5 s"
};

struct self_test_report {
  bool ok = false;
  bool cancelled = false;
  uint64_t iterations = 0;
  float gflops = 0;
  uint64_t gemm_checked = 0;     // elements compared with the fp64 reference
  uint64_t gemm_errors = 0;      // of those, outside tolerance
  float gemm_max_rel_error = 0;  // |c - ref| / sum_k |a b|
  uint64_t memory_bytes_checked = 0;
  uint64_t memory_errors = 0;  // 64-bit words that read back wrong
  std::string message;         // "gemm 512^3 x 37 iterations 41.2 GFLOP/s; memory 64 MiB verified"
};

// Runs the self-test. on_progress (may be empty) is called about every progress_interval_ms and
// never after run_self_test returns. cancel is polled between phases.
self_test_report run_self_test(const self_test_options& o, const std::atomic<bool>& cancel,
                               const std::function<void(const self_test_progress&)>& on_progress,
                               uint32_t progress_interval_ms = 500);

// The memory check's two halves (exposed so a test can corrupt a word in between).
void memory_pattern_fill(uint64_t* words, size_t n, uint64_t seed);
uint64_t memory_pattern_verify(const uint64_t* words, size_t n, uint64_t seed);

}  // namespace kaito::actors
