// nf4_bench: NF4 kernels at Phi-3-mini shapes on the GPU (never run by ctest).
//   decode: fused NF4 GEMV (fp32 absmax and double-quant) at batch 1 and 8: achieved GB/s over the
//           bytes it must move, and the fraction of the H200's 4.8 TB/s (datasheet) roofline;
//   prefill/training: NF4 dequantize + cuBLASLt bf16 GEMM vs cuBLASLt bf16 alone (weights already
//           bf16) at N = 2048 and 4096 tokens, in TFLOP/s.
// Weights are random bytes / random absmax (every byte is a valid NF4 code pair: timing does not
// depend on values; correctness is tests/cuda/parity_test). Each weight set is replicated until the
// rotation covers >= 256 MB, more than 4x the 60 MB L2, so the GEMV reads from HBM, not from L2.
// Decode rows are timed as CUDA-graph replays of the rotation (per-launch time without host launch
// overhead); the plain-launch time is printed next to it.
//   fused NF4 tensor-core GEMM, forward and backward-input, both tile shapes of
//           kernels/cuda/nf4_gemm_mma.h, vs NF4 dequantize + cuBLASLt at N = 512, 2048, 4096
//           (row kinds nf4_mma128, nf4_mma256, nf4_dinp128, nf4_dinp256; ref_us =
//           nf4_gemm_forward_cuda or nf4_gemm_backward_inp_cuda at the same shape);
//   fused lm_head + cross-entropy over vocabulary chunks (linear_cross_entropy_*_cuda, Vc = 4096)
//           vs the unfused path (bf16 logits (N, V) by cuBLASLt, widened to fp32, cross_entropy_*;
//           backward adds dlogits -> bf16 and gemm_backward_inp) at Phi-3-mini's C = 3072,
//           V = 32064 (row kinds lce_fwd and lce_fwd_bwd; <b> = N, <K> = C, <OC> = V).
// Output: a human table on stdout plus one machine line per row:
//   ROW,<kind>,<batch or N>,<K>,<OC>,<ours_us>,<bytes>,<flops>,<ref_us>
// (ref_us: decode rows the plain-launch time, GEMM rows cuBLASLt bf16 alone on dequantized W).
// consumed by bench/device/report.py, which adds the PyTorch baselines measured in the same run.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/nf4_gemm_mma.h"
#include "kernels/gemm.h"
#include "kernels/linear_cross_entropy.h"
#include "kernels/nf4.h"

namespace {

using namespace kaito;

constexpr double kHbmBytesPerS = 4.8e12;  // H200 datasheet

void die_on(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "nf4_bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

template <class T>
std::vector<T> host_random(size_t n, std::mt19937& rng, float lo, float hi) {
  std::vector<T> h(n);
  std::uniform_real_distribution<float> u(lo, hi);
  for (T& v : h) {
    if constexpr (std::is_same_v<T, bf16>)
      v = f32_to_bf16(u(rng));
    else if constexpr (std::is_same_v<T, uint8_t>)
      v = uint8_t(rng() >> 24);
    else
      v = u(rng);
  }
  return h;
}

template <class T>
T* dev_copy(const std::vector<T>& h) {
  T* d = nullptr;
  die_on(cudaMalloc(&d, h.size() * sizeof(T)), "cudaMalloc");
  die_on(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  die_on(cudaDeviceSynchronize(), "upload sync");  // legacy stream vs the context's
  return d;
}

template <class T>
T* dev_random(size_t n, std::mt19937& rng, float lo, float hi) {
  return dev_copy(host_random<T>(n, rng, lo, hi));
}

// Median over `reps` timed rounds of `calls` back-to-back calls; returns microseconds per call.
// graph: capture one round into a CUDA graph and time its replays (removes host launch overhead,
// which otherwise dominates kernels of a few microseconds; decode runs as graphs in the engine).
// Falls back to plain launches when capture fails; *graphed says which was used.
double time_us(cuda_context& cx, int calls, const std::function<void(int)>& call, int reps = 7,
               bool graph = false, bool* graphed = nullptr) {
  cudaEvent_t a, b;
  die_on(cudaEventCreate(&a), "event");
  die_on(cudaEventCreate(&b), "event");
  for (int i = 0; i < calls; ++i) call(i);  // warm-up (and any one-time attribute setting)
  die_on(cudaStreamSynchronize(cx.stream()), "sync");
  cudaGraphExec_t exec = nullptr;
  if (graph) {
    cudaGraph_t g = nullptr;
    if (cudaStreamBeginCapture(cx.stream(), cudaStreamCaptureModeRelaxed) == cudaSuccess) {
      for (int i = 0; i < calls; ++i) call(i);
      if (cudaStreamEndCapture(cx.stream(), &g) != cudaSuccess || cx.has_error() ||
          cudaGraphInstantiate(&exec, g, 0) != cudaSuccess) {
        exec = nullptr;
      }
      if (g != nullptr) cudaGraphDestroy(g);
    }
    (void)cudaGetLastError();
    (void)cx.take_error();
    if (exec != nullptr) die_on(cudaGraphLaunch(exec, cx.stream()), "graph warm-up");
  }
  if (graphed != nullptr) *graphed = exec != nullptr;
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    die_on(cudaEventRecord(a, cx.stream()), "record");
    if (exec != nullptr) {
      die_on(cudaGraphLaunch(exec, cx.stream()), "graph launch");
    } else {
      for (int i = 0; i < calls; ++i) call(i);
    }
    die_on(cudaEventRecord(b, cx.stream()), "record");
    die_on(cudaEventSynchronize(b), "sync");
    float t = 0.0f;
    die_on(cudaEventElapsedTime(&t, a, b), "elapsed");
    ms.push_back(t);
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  const status st = cx.synchronize();
  if (!st.ok()) {
    std::fprintf(stderr, "nf4_bench: %s\n", st.to_string().c_str());
    std::exit(1);
  }
  return 1000.0 * ms[ms.size() / 2] / calls;
}

void bench_gemv(cuda_context& cx, std::mt19937& rng, int64_t K, int64_t OC) {
  const size_t n = size_t(K * OC), nblocks = n / 64;
  const double set_bytes = n * 0.5 + nblocks * 4.0;
  const int copies = int(std::max(1.0, std::ceil(256e6 / set_bytes)));
  std::vector<uint8_t*> packed(copies), qabs(copies);
  std::vector<float*> absmax(copies);
  // One random set, copied to `copies` addresses: the same bytes elsewhere still miss the L2.
  const auto packed_h = host_random<uint8_t>(n / 2, rng, 0, 0);
  const auto absmax_h = host_random<float>(nblocks, rng, 0.01f, 0.1f);
  const auto qabs_h = host_random<uint8_t>(nblocks, rng, 0, 0);
  for (int c = 0; c < copies; ++c) {
    packed[c] = dev_copy(packed_h);
    absmax[c] = dev_copy(absmax_h);
    qabs[c] = dev_copy(qabs_h);
  }
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  float* code8_d = nullptr;
  die_on(cudaMalloc(&code8_d, 256 * sizeof(float)), "cudaMalloc");
  die_on(cudaMemcpy(code8_d, code8.data(), 1024, cudaMemcpyHostToDevice), "upload");
  die_on(cudaDeviceSynchronize(), "upload sync");  // legacy stream vs the context's
  float* nested = dev_random<float>((nblocks + 255) / 256, rng, 0.05f, 0.1f);
  bf16* x = dev_random<bf16>(size_t(8 * K), rng, -1.0f, 1.0f);
  bf16* y = dev_random<bf16>(size_t(8 * OC), rng, -1.0f, 1.0f);
  for (int64_t B : {1, 8}) {
    for (bool dq : {false, true}) {
      auto call = [&](int c) {
        if (dq) {
          nf4_dq_gemv_cuda(cx, y, x, packed[c], qabs[c], code8_d, nested, 0.03f, B, K, OC);
        } else {
          nf4_gemv_cuda(cx, y, x, packed[c], absmax[c], B, K, OC);
        }
      };
      bool graphed = false;
      const double us = time_us(cx, copies, call, 7, true, &graphed);
      const double us_eager = time_us(cx, copies, call, 7, false);
      const double bytes = n * 0.5 + nblocks * (dq ? 1.0 : 4.0) + 2.0 * B * (K + OC);
      std::printf(
          "%-12s B=%-2lld K=%-5lld OC=%-6lld %9.2f us %8.1f GB/s  %5.1f%% of 4.8 TB/s"
          "  (%s; plain launches %.2f us)\n",
          dq ? "nf4_dq_gemv" : "nf4_gemv", (long long)B, (long long)K, (long long)OC, us,
          bytes / (us * 1e3), 100.0 * bytes / (us * 1e-6) / kHbmBytesPerS,
          graphed ? "graph replay" : "graph capture failed: plain launches", us_eager);
      std::printf("ROW,%s,%lld,%lld,%lld,%.3f,%.0f,%.0f,%.3f\n", dq ? "nf4_dq_gemv" : "nf4_gemv",
                  (long long)B, (long long)K, (long long)OC, us, bytes, 2.0 * B * K * OC, us_eager);
    }
  }
  for (int c = 0; c < copies; ++c) {
    cudaFree(packed[c]);
    cudaFree(absmax[c]);
    cudaFree(qabs[c]);
  }
  cudaFree(code8_d);
  cudaFree(nested);
  cudaFree(x);
  cudaFree(y);
}

void bench_gemm(cuda_context& cx, std::mt19937& rng, int64_t N, int64_t K, int64_t OC) {
  const size_t n = size_t(K * OC), nblocks = n / 64;
  uint8_t* packed = dev_random<uint8_t>(n / 2, rng, 0, 0);
  float* absmax = dev_random<float>(nblocks, rng, 0.01f, 0.1f);
  bf16* w = dev_random<bf16>(n, rng, -0.05f, 0.05f);
  bf16* x = dev_random<bf16>(size_t(N * K), rng, -1.0f, 1.0f);
  bf16* y = dev_random<bf16>(size_t(N * OC), rng, -1.0f, 1.0f);
  const double flops = 2.0 * N * K * OC;
  const double ours =
      time_us(cx, 5, [&](int) { nf4_gemm_forward_cuda(cx, y, x, packed, absmax, N, K, OC); });
  const double ref =
      time_us(cx, 5, [&](int) { gemm_forward_cuda(cx, y, x, w, nullptr, N, K, OC); });
  const double deq =
      time_us(cx, 5, [&](int) { nf4_dequantize_cuda(cx, w, packed, absmax, int64_t(n)); });
  std::printf(
      "%-12s N=%-5lld K=%-5lld OC=%-6lld %9.2f us %7.1f TFLOP/s  (cuBLASLt bf16 alone %.2f us "
      "%.1f TFLOP/s, dequant %.2f us)\n",
      "nf4_gemm", (long long)N, (long long)K, (long long)OC, ours, flops / (ours * 1e6), ref,
      flops / (ref * 1e6), deq);
  std::printf("ROW,nf4_gemm,%lld,%lld,%lld,%.3f,%.0f,%.0f,%.3f\n", (long long)N, (long long)K,
              (long long)OC, ours, n * 0.5 + nblocks * 4.0 + 2.0 * (N * K + N * OC), flops, ref);
  cudaFree(packed);
  cudaFree(absmax);
  cudaFree(w);
  cudaFree(x);
  cudaFree(y);
}

void bench_gemm_mma(cuda_context& cx, std::mt19937& rng, int64_t N, int64_t K, int64_t OC) {
  const size_t n = size_t(K * OC), nblocks = n / 64;
  uint8_t* packed = dev_random<uint8_t>(n / 2, rng, 0, 0);
  float* absmax = dev_random<float>(nblocks, rng, 0.01f, 0.1f);
  bf16* x = dev_random<bf16>(size_t(N * K), rng, -1.0f, 1.0f);
  bf16* y = dev_random<bf16>(size_t(N * OC), rng, -1.0f, 1.0f);
  const double flops = 2.0 * N * K * OC;
  const double bytes = n * 0.5 + nblocks * 4.0 + 2.0 * (N * K + N * OC);
  // forward (y = x · Wᵀ), then backward through the frozen weight (x = y · W: x, y swap roles);
  // each fused tile shape against dequant + cuBLASLt at the same shape
  const double ref_f =
      time_us(cx, 5, [&](int) { nf4_gemm_forward_cuda(cx, y, x, packed, absmax, N, K, OC); });
  const double ref_b =
      time_us(cx, 5, [&](int) { nf4_gemm_backward_inp_cuda(cx, x, y, packed, absmax, N, K, OC); });
  for (detail::nf4_mma_tile tile : {detail::nf4_mma_tile::m128, detail::nf4_mma_tile::m256}) {
    const char* tn = detail::nf4_mma_tile_name(tile);
    for (bool bwd : {false, true}) {
      const double us = time_us(cx, 5, [&](int) {
        if (bwd) {
          detail::nf4_gemm_mma_backward_inp_tiled(cx, tile, x, y, packed, absmax, N, K, OC);
        } else {
          detail::nf4_gemm_mma_forward_tiled(cx, tile, y, x, packed, absmax, N, K, OC);
        }
      });
      const double ref = bwd ? ref_b : ref_f;
      const std::string kind =
          std::string(bwd ? "nf4_dinp" : "nf4_mma") + (tn + 1);  // e.g. nf4_mma128
      std::printf(
          "%-12s N=%-5lld K=%-5lld OC=%-6lld %9.2f us %7.1f TFLOP/s  (dequant + cuBLASLt %.2f us "
          "%.1f TFLOP/s)\n",
          kind.c_str(), (long long)N, (long long)K, (long long)OC, us, flops / (us * 1e6), ref,
          flops / (ref * 1e6));
      std::printf("ROW,%s,%lld,%lld,%lld,%.3f,%.0f,%.0f,%.3f\n", kind.c_str(), (long long)N,
                  (long long)K, (long long)OC, us, bytes, flops, ref);
    }
  }
  cudaFree(packed);
  cudaFree(absmax);
  cudaFree(x);
  cudaFree(y);
}

void bench_lce(cuda_context& cx, std::mt19937& rng, int64_t N, int64_t C, int64_t V, int64_t Vc) {
  bf16* h = dev_random<bf16>(size_t(N * C), rng, -1.0f, 1.0f);
  bf16* w = dev_random<bf16>(size_t(V * C), rng, -0.1f, 0.1f);
  bf16* dh = dev_random<bf16>(size_t(N * C), rng, -1.0f, 1.0f);
  std::vector<int32_t> t_h(static_cast<size_t>(N));
  for (int32_t& t : t_h) t = int32_t(rng() % uint32_t(V));
  int32_t* t = dev_copy(t_h);
  float* losses = dev_random<float>(size_t(N), rng, 0.0f, 1.0f);
  float* lse = dev_random<float>(size_t(N), rng, 0.0f, 1.0f);
  bf16* logits_bf = nullptr;  // the unfused path's full logits, bf16 and fp32
  float* logits = nullptr;
  die_on(cudaMalloc(&logits_bf, size_t(N * V) * sizeof(bf16)), "cudaMalloc");
  die_on(cudaMalloc(&logits, size_t(N * V) * sizeof(float)), "cudaMalloc");
  const float scale = 1.0f / float(N);
  auto fused_fwd = [&] {
    linear_cross_entropy_forward_cuda(cx, losses, lse, h, w, t, N, C, V, Vc);
  };
  auto fused_bwd = [&] {
    linear_cross_entropy_backward_cuda(cx, dh, h, w, lse, t, scale, N, C, V, Vc);
  };
  auto plain_fwd = [&] {
    gemm_forward_cuda(cx, logits_bf, h, w, nullptr, N, C, V);
    bf16_to_f32_cuda(cx, logits, logits_bf, N * V);
    cross_entropy_forward_cuda(cx, losses, lse, logits, t, N, V);
  };
  auto plain_bwd = [&] {
    cross_entropy_backward_cuda(cx, logits, logits, lse, t, scale, N, V);
    f32_to_bf16_cuda(cx, logits_bf, logits, N * V);
    gemm_backward_inp_cuda(cx, dh, logits_bf, w, N, C, V);
  };
  const double fwd = time_us(cx, 3, [&](int) { fused_fwd(); });
  const double fwd_ref = time_us(cx, 3, [&](int) { plain_fwd(); });
  const double both = time_us(cx, 3, [&](int) {
    fused_fwd();
    fused_bwd();
  });
  const double both_ref = time_us(cx, 3, [&](int) {
    plain_fwd();
    plain_bwd();
  });
  const double flops = 2.0 * N * C * V;
  std::printf(
      "%-12s N=%-5lld C=%-5lld V=%-6lld Vc=%lld  fwd %9.1f us (unfused %9.1f us)  fwd+bwd %9.1f us "
      "(unfused %9.1f us)  scratch fwd %.0f MiB bwd %.0f MiB (unfused logits %.0f MiB)\n",
      "lce", (long long)N, (long long)C, (long long)V, (long long)Vc, fwd, fwd_ref, both, both_ref,
      (N * Vc * 4.0 + N * 12.0) / 1048576.0, (N * Vc * 6.0 + N * C * 4.0) / 1048576.0,
      N * V * 6.0 / 1048576.0);
  std::printf("ROW,lce_fwd,%lld,%lld,%lld,%.3f,%.0f,%.0f,%.3f\n", (long long)N, (long long)C,
              (long long)V, fwd, 2.0 * (N * C + V * C) + 8.0 * N * V, flops, fwd_ref);
  std::printf("ROW,lce_fwd_bwd,%lld,%lld,%lld,%.3f,%.0f,%.0f,%.3f\n", (long long)N, (long long)C,
              (long long)V, both, 2.0 * (2.0 * N * C + 3.0 * V * C) + 22.0 * N * V, 4.0 * flops,
              both_ref);
  cudaFree(h);
  cudaFree(w);
  cudaFree(dh);
  cudaFree(t);
  cudaFree(losses);
  cudaFree(lse);
  cudaFree(logits_bf);
  cudaFree(logits);
}

}  // namespace

int main() {
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  cuda_context_options opts;
  // dequant scratch: 16384 x 3072 bf16 = 96 MiB; lce backward at N = 4096, Vc = 4096: 144 MiB
  opts.arena_bytes = size_t(256) << 20;
  auto cx = cuda_context::create(opts);
  if (!cx.ok()) {
    std::fprintf(stderr, "nf4_bench: %s\n", cx.error().to_string().c_str());
    return 1;
  }
  std::printf("device: %s, %d SMs, L2 %d MB\n", (*cx)->device_name().c_str(), (*cx)->sm_count(),
              (*cx)->props().l2CacheSize >> 20);
  std::mt19937 rng(1234);
  {  // measured copy bandwidth (read + write bytes), the practical ceiling next to the datasheet's
    const size_t bytes = size_t(1) << 30;
    void *a = nullptr, *b = nullptr;
    die_on(cudaMalloc(&a, bytes), "cudaMalloc");
    die_on(cudaMalloc(&b, bytes), "cudaMalloc");
    die_on(cudaMemset(a, 1, bytes), "memset");
    die_on(cudaDeviceSynchronize(), "upload sync");  // legacy stream vs the context's
    const double us = time_us(**cx, 3, [&](int) {
      die_on(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, (*cx)->stream()), "copy");
    });
    std::printf("device-to-device copy: %.0f GB/s (read + write)\n", 2.0 * bytes / (us * 1e3));
    std::printf("ROW,copy,1,%zu,1,%.3f,%.0f,0,0\n", bytes, us, 2.0 * bytes);
    cudaFree(a);
    cudaFree(b);
  }
  // Phi-3-mini linear shapes (K = in features, OC = out features).
  const int64_t shapes[4][2] = {{3072, 3072}, {3072, 9216}, {3072, 16384}, {8192, 3072}};
  for (const auto& s : shapes) bench_gemv(**cx, rng, s[0], s[1]);
  for (int64_t N : {2048, 4096})
    for (const auto& s : shapes) bench_gemm(**cx, rng, N, s[0], s[1]);
  for (int64_t N : {512, 2048, 4096})
    for (const auto& s : shapes) bench_gemm_mma(**cx, rng, N, s[0], s[1]);
  for (int64_t N : {2048, 4096}) bench_lce(**cx, rng, N, 3072, 32064, 4096);
  return 0;
}
