// kernels_bench: CPU twin timings; GEMM efficiency against OpenBLAS's own peak on the same shapes.
// Never run by ctest. One table: op, shape (rows x in x out), ours (ms, gemm_forward_cpu: the
// packed AVX-512 SGEMM where the CPU has it), peer (ms, a direct cblas_sgemm, or cblas_sgemv for
// one row, on the same buffers), ours/peer, our GFLOP/s and its fraction of the OpenBLAS peak
// measured at the start (a large square sgemm), OpenBLAS's GFLOP/s. Elementwise ops report GB/s
// of their compulsory traffic instead. Threads: KAITO_NUM_THREADS / OPENBLAS_NUM_THREADS.
//   usage: kaito_bench [tokens]      (default 256 rows; the engine bench model's GEMM shapes,
//                                     bench/engine_bench.cpp, then one-row decode shapes)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

#if KAITO_HAVE_BLAS
#include <cblas.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;

// Best of `reps` wall times in ms (after one warm-up run).
double time_ms(const std::function<void()>& fn, int reps = 3) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = clock_type::now();
    fn();
    best =
        std::min(best, std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  return best;
}

std::vector<float> filled(int64_t n, float v) {
  return std::vector<float>(static_cast<size_t>(n), v);
}

#if KAITO_HAVE_BLAS
// OpenBLAS's best on the same buffers: sgemv for one row (its sgemm packs all of w then).
void peer_sgemm(float* out, const float* inp, const float* w, int64_t N, int64_t C, int64_t OC) {
  if (N == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, int(OC), int(C), 1.0f, w, int(C), inp, 1, 0.0f, out,
                1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(OC), int(C), 1.0f, inp, int(C),
              w, int(C), 0.0f, out, int(OC));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const int64_t N = argc > 1 ? std::atoll(argv[1]) : 256;
  if (N <= 0) {
    std::fprintf(stderr, "usage: kaito_bench [tokens > 0]\n");
    return 2;
  }
  double peak_gflops = 0.0;
#if KAITO_HAVE_BLAS
  {
    const int64_t S = 1024;
    auto a = filled(S * S, 0.5f), b = filled(S * S, 0.25f), c = filled(S * S, 0.0f);
    double ms = time_ms([&] { peer_sgemm(c.data(), a.data(), b.data(), S, S, S); });
    peak_gflops = 2.0 * S * S * S / (ms * 1e6);
    std::printf("OpenBLAS peak (sgemm 1024^3): %.1f GFLOP/s\n\n", peak_gflops);
  }
#else
  std::printf("no OpenBLAS: plain-loop GEMM, no peer column\n\n");
#endif
  std::printf("%-22s %-20s %10s %10s %8s %12s\n", "op", "shape", "ours ms", "peer ms", "ratio",
              "GFLOP/s|GB/s");
  struct shape {
    const char* name;
    int64_t N, C, OC;
  };
  // The CPU engine bench model (bench/engine_bench.cpp: hidden 768, intermediate 2048, 12/4
  // heads, vocab 32000): N token rows, and one row as in greedy decoding.
  const shape shapes[] = {{"gemm qkv", N, 768, 1280},       {"gemm o", N, 768, 768},
                          {"gemm gate_up", N, 768, 4096},   {"gemm down", N, 2048, 768},
                          {"gemm lm_head", N, 768, 32000},  {"gemv qkv", 1, 768, 1280},
                          {"gemv o", 1, 768, 768},          {"gemv gate_up", 1, 768, 4096},
                          {"gemv down", 1, 2048, 768},      {"gemv lm_head", 1, 768, 32000},
                          {"gemm square", 1024, 1024, 1024}};
  for (const shape& s : shapes) {
    auto inp = filled(s.N * s.C, 0.01f), w = filled(s.OC * s.C, 0.02f), out = filled(s.N * s.OC, 0);
    double ours = time_ms([&] {
      kaito::gemm_forward_cpu(out.data(), inp.data(), w.data(), nullptr, s.N, s.C, s.OC);
    });
    double gflops = 2.0 * s.N * s.C * s.OC / (ours * 1e6);
    char dims[64];
    std::snprintf(dims, sizeof dims, "%lldx%lldx%lld", (long long)s.N, (long long)s.C,
                  (long long)s.OC);
#if KAITO_HAVE_BLAS
    double peer = time_ms([&] { peer_sgemm(out.data(), inp.data(), w.data(), s.N, s.C, s.OC); });
    std::printf("%-22s %-20s %10.3f %10.3f %8.2f %7.1f (%3.0f%% of peak) blas %6.1f\n", s.name,
                dims, ours, peer, ours / peer, gflops, 100.0 * gflops / peak_gflops,
                2.0 * s.N * s.C * s.OC / (peer * 1e6));
#else
    std::printf("%-22s %-20s %10.3f %10s %8s %12.1f\n", s.name, dims, ours, "-", "-", gflops);
#endif
    if (s.N == 1) continue;
    // bf16 weights: exact upcast in panels, then the same sgemm
    std::vector<kaito::bf16> wb(w.size());
    kaito::f32_to_bf16_cpu(wb.data(), w.data(), int64_t(w.size()));
    double bf = time_ms([&] {
      kaito::gemm_forward_bf16w_cpu(out.data(), inp.data(), wb.data(), nullptr, s.N, s.C, s.OC);
    });
    std::printf("%-22s %-20s %10.3f %10.3f %8.2f %12.1f\n", " +bf16 weights", dims, bf, ours,
                bf / ours, 2.0 * s.N * s.C * s.OC / (bf * 1e6));
  }
  {
    const int64_t C = 3072;
    auto x = filled(N * C, 0.5f), w = filled(C, 1.0f), out = filled(N * C, 0), rstd = filled(N, 0);
    double ms = time_ms([&] {
      kaito::rmsnorm_forward_cpu(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    });
    std::printf("%-22s %-20s %10.3f %10s %8s %12.2f\n", "rmsnorm fwd", "N x 3072", ms, "-", "-",
                2.0 * 4 * N * C / (ms * 1e6));
  }
  {
    const int64_t I = 8192;
    auto gu = filled(N * 2 * I, 0.3f), out = filled(N * I, 0);
    double ms = time_ms(
        [&] { kaito::swiglu_forward_cpu(out.data(), gu.data(), gu.data() + I, N, I, 2 * I); });
    std::printf("%-22s %-20s %10.3f %10s %8s %12.2f\n", "swiglu fwd", "N x 8192", ms, "-", "-",
                3.0 * 4 * N * I / (ms * 1e6));
  }
  {
    const int64_t n = 3072 * 3072;
    auto w = filled(n, 0.0f);
    for (int64_t i = 0; i < n; ++i)
      w[static_cast<size_t>(i)] = float((i * 7919) % 2001 - 1000) * 1e-3f;
    std::vector<uint8_t> packed(static_cast<size_t>(n / 2));
    std::vector<float> absmax(static_cast<size_t>(n / 64)), out(static_cast<size_t>(n));
    double q =
        time_ms([&] { kaito::nf4_quantize_cpu(packed.data(), absmax.data(), w.data(), n); }, 1);
    double d =
        time_ms([&] { kaito::nf4_dequantize_cpu(out.data(), packed.data(), absmax.data(), n); });
    std::printf("%-22s %-20s %10.2f %10s %8s %12.2f\n", "nf4 quantize", "3072x3072", q, "-", "-",
                (4.0 * n + n / 2.0) / (q * 1e6));
    std::printf("%-22s %-20s %10.2f %10s %8s %12.2f\n", "nf4 dequantize", "3072x3072", d, "-", "-",
                (4.0 * n + n / 2.0) / (d * 1e6));
  }
  {
    const int64_t T = std::min<int64_t>(N, 512), NH = 32, HS = 96;
    auto q = filled(T * NH * HS, 0.01f), out = filled(T * NH * HS, 0), lse = filled(NH * T, 0);
    double ms = time_ms(
        [&] {
          kaito::attention_forward_cpu(out.data(), lse.data(), q.data(), q.data(), q.data(), 1, T,
                                       NH, NH, HS, 0.1f, 0);
        },
        1);
    std::printf("%-22s %-20s %10.2f %10s %8s %12.2f\n", "attention fwd (ref)", "T x 32 x 96", ms,
                "-", "-", 2.0 * 2 * NH * HS * T * (T + 1) / 2 / (ms * 1e6));
  }
  return 0;
}
