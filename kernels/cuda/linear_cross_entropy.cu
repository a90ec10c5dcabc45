// Fused lm_head + cross-entropy on the GPU over vocabulary chunks; contract and CPU twin:
// kernels/linear_cross_entropy.{h,cpp}. Per chunk of vc <= Vc vocabulary rows:
//   forward:  logits(N, vc) fp32 = h · W_chunkᵀ (cuBLASLt, arena scratch), then one block per row
//             merges the chunk's (max, sum of exp) into the running pair and picks the target
//             logit; the last chunk writes lse and losses.
//   backward: logits recomputed the same way, turned into bf16 dlogits (N, vc) (second scratch),
//             then dh32(N, C) fp32 (=, then +=) dlogits · W_chunk (cuBLASLt, beta 0 then 1); at the
//             end dh = bf16(dh32). lm_head is frozen (QLoRA): no dW.
// Scratch (arena, released on return): forward N*Vc*4 + 3*N*4 bytes; backward N*Vc*6 + N*C*4.
// The caller picks Vc: e.g. 4096 at N = 4096 (64 MiB fp32 logits per chunk instead of the 525 MB
// of the full Phi-3 (4096, 32064) fp32 logits).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lt_matmul.h"
#include "kernels/dtype.h"
#include "kernels/linear_cross_entropy.h"

namespace kaito {
namespace {

constexpr int kThreads = 256;

// (m, s): s = sum exp(x - m) over a set; merge two sets (m = -inf means the empty set).
__device__ __forceinline__ void lse_merge(float& m, float& s, float mo, float so) {
  const float mm = fmaxf(m, mo);
  if (mm == -INFINITY) return;  // both empty
  s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (mo == -INFINITY ? 0.0f : so * expf(mo - mm));
  m = mm;
}

// One block per row n. logits: the chunk (N, vc) fp32, columns = vocabulary [v0, v0 + vc).
// state: run_max, run_sum, target logit (N each); first: the state is empty; last: write outputs.
__global__ void __launch_bounds__(kThreads)
    lce_forward_chunk_kernel(float* losses, float* lse, float* run_max, float* run_sum,
                             float* tlogit, const float* logits, const int32_t* targets, int64_t v0,
                             int vc, int64_t V, bool first, bool last) {
  __shared__ float red_m[kThreads / 32], red_s[kThreads / 32];
  const int64_t n = blockIdx.x;
  const float* x = logits + n * vc;  // seek to logits[n, v0]
  float m = -INFINITY, s = 0.0f;
  for (int v = threadIdx.x; v < vc; v += kThreads) {
    const float xv = x[v];
    if (xv > m) {
      s = s * expf(m - xv) + 1.0f;  // m = -inf at first: s = 0 * 0 + 1
      m = xv;
    } else {
      s += expf(xv - m);
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float mo = __shfl_xor_sync(0xffffffffu, m, off),
                so = __shfl_xor_sync(0xffffffffu, s, off);
    lse_merge(m, s, mo, so);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    red_m[warp] = m;
    red_s[warp] = s;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float M = first ? -INFINITY : run_max[n], S = first ? 0.0f : run_sum[n];
  for (int w = 0; w < kThreads / 32; ++w) lse_merge(M, S, red_m[w], red_s[w]);
  const int32_t t = targets[n];
  float tl = first ? 0.0f : tlogit[n];
  if (t >= v0 && t < v0 + vc) tl = x[t - v0];
  if (last) {
    const float l = M + logf(S);
    lse[n] = l;
    losses[n] = (t == cross_entropy_ignore_index || t < 0 || t >= V) ? 0.0f : l - tl;
  } else {
    run_max[n] = M;
    run_sum[n] = S;
    tlogit[n] = tl;
  }
}

// One block per row: dlogits[n, v] = grad_scale * (exp(logits[n, v] - lse[n]) - [v0 + v == t]),
// zero rows for ignored (or out-of-range) targets; bf16 out for the tensor-core product.
__global__ void __launch_bounds__(kThreads)
    lce_backward_chunk_kernel(__nv_bfloat16* dlogits, const float* logits, const float* lse,
                              const int32_t* targets, float grad_scale, int64_t v0, int vc,
                              int64_t V) {
  const int64_t n = blockIdx.x;
  const float* x = logits + n * vc;
  __nv_bfloat16* d = dlogits + n * vc;
  const int32_t t = targets[n];
  if (t == cross_entropy_ignore_index || t < 0 || t >= V) {
    for (int v = threadIdx.x; v < vc; v += kThreads) d[v] = __float2bfloat16_rn(0.0f);
    return;
  }
  const float l = lse[n];
  for (int v = threadIdx.x; v < vc; v += kThreads) {
    const float p = expf(x[v] - l);
    d[v] = __float2bfloat16_rn(grad_scale * (v0 + v == t ? p - 1.0f : p));
  }
}

// Host side; tests/cuda/lce_emulation_test.cpp compiles the kernels above for the CPU with
// KAITO_CUDA_EMULATE defined (tests/cuda/cuda_emulation.h) and leaves this part out.
#ifndef KAITO_CUDA_NO_LAUNCHERS
bool check_shape(cuda_context& cx, const char* who, int64_t N, int64_t C, int64_t V, int64_t Vc) {
  if (N < 0 || N > INT32_MAX || C <= 0 || V <= 0 || Vc <= 0 || Vc > INT32_MAX) {
    cx.record_error(invalid_argument(std::string(who) + ": bad shape N=" + std::to_string(N) +
                                     " C=" + std::to_string(C) + " V=" + std::to_string(V) +
                                     " Vc=" + std::to_string(Vc)));
    return false;
  }
  return true;
}

// logits(N, vc) fp32 = h(N, C) · W[v0 : v0+vc, :]ᵀ  (column-major: (vc x N) = Wcᵀ · hᵀ).
void chunk_logits(cuda_context& cx, float* logits, const bf16* h, const bf16* W, int64_t v0,
                  int64_t vc, int64_t N, int64_t C) {
  detail::lt_matmul(cx, {true, false, vc, N, C, W + v0 * C, C, h, C, logits, vc, CUDA_R_32F, 1.0f,
                         0.0f, nullptr});
}

}  // namespace

// launchers

void linear_cross_entropy_forward_cuda(cuda_context& cx, float* losses, float* lse, const bf16* h,
                                       const bf16* W, const int32_t* targets, int64_t N, int64_t C,
                                       int64_t V, int64_t Vc) {
  if (!check_shape(cx, "linear_cross_entropy_forward_cuda", N, C, V, Vc) || N == 0) return;
  Vc = std::min(Vc, V);
  const size_t mark = cx.arena().mark();
  auto logits = cx.arena().alloc_array<float>(size_t(N) * size_t(Vc));
  auto state = cx.arena().alloc_array<float>(3 * size_t(N));
  if (!logits.ok() || !state.ok()) {
    cx.record_error((logits.ok() ? state.error() : logits.error())
                        .with_context("linear_cross_entropy_forward_cuda scratch"));
    cx.arena().rewind(mark);
    return;
  }
  float *run_max = *state, *run_sum = *state + N, *tlogit = *state + 2 * N;
  for (int64_t v0 = 0; v0 < V; v0 += Vc) {
    const int64_t vc = std::min(Vc, V - v0);
    chunk_logits(cx, *logits, h, W, v0, vc, N, C);
    if (cx.has_error()) break;
    KAITO_LAUNCH(unsigned(N), kThreads, 0, cx.stream(), lce_forward_chunk_kernel)
    (losses, lse, run_max, run_sum, tlogit, *logits, targets, v0, int(vc), V, v0 == 0,
     v0 + vc >= V);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
      cx.record_error(cuda_error_status(e, "lce_forward_chunk_kernel", __FILE__, __LINE__));
      break;
    }
  }
  cx.arena().rewind(mark);  // stream-ordered: later users of the scratch run after these kernels
}

void linear_cross_entropy_backward_cuda(cuda_context& cx, bf16* dh, const bf16* h, const bf16* W,
                                        const float* lse, const int32_t* targets, float grad_scale,
                                        int64_t N, int64_t C, int64_t V, int64_t Vc) {
  if (!check_shape(cx, "linear_cross_entropy_backward_cuda", N, C, V, Vc) || N == 0) return;
  Vc = std::min(Vc, V);
  const size_t mark = cx.arena().mark();
  auto logits = cx.arena().alloc_array<float>(size_t(N) * size_t(Vc));
  auto dlogits = cx.arena().alloc_array<bf16>(size_t(N) * size_t(Vc));
  auto dh32 = cx.arena().alloc_array<float>(size_t(N) * size_t(C));
  if (!logits.ok() || !dlogits.ok() || !dh32.ok()) {
    const status& e = !logits.ok()    ? logits.error()
                      : !dlogits.ok() ? dlogits.error()
                                      : dh32.error();
    cx.record_error(e.with_context("linear_cross_entropy_backward_cuda scratch"));
    cx.arena().rewind(mark);
    return;
  }
  for (int64_t v0 = 0; v0 < V; v0 += Vc) {
    const int64_t vc = std::min(Vc, V - v0);
    chunk_logits(cx, *logits, h, W, v0, vc, N, C);
    if (cx.has_error()) break;
    KAITO_LAUNCH(unsigned(N), kThreads, 0, cx.stream(), lce_backward_chunk_kernel)
    (as_nv(*dlogits), *logits, lse, targets, grad_scale, v0, int(vc), V);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
      cx.record_error(cuda_error_status(e, "lce_backward_chunk_kernel", __FILE__, __LINE__));
      break;
    }
    // dh32(N, C) (=, then +=) dlogits(N, vc) · W[v0 : v0+vc, :]
    // column-major: (C x N) = Wc(C x vc, ld C) · dlogitsᵀ(vc x N, ld vc)
    detail::lt_matmul(cx, {false, false, C, N, vc, W + v0 * C, C, *dlogits, vc, *dh32, C,
                           CUDA_R_32F, 1.0f, v0 == 0 ? 0.0f : 1.0f, nullptr});
    if (cx.has_error()) break;
  }
  if (!cx.has_error()) f32_to_bf16_cuda(cx, dh, *dh32, N * C);
  cx.arena().rewind(mark);  // stream-ordered: later users of the scratch run after these kernels
}

#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
