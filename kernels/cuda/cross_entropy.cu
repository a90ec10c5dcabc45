// Softmax cross-entropy forward/backward on the GPU; contract and CPU twin:
// kernels/cross_entropy.{h,cpp}. fp32 logits (N, V), one block per row.
// Forward: one pass over the row with an online (max, sum of exp) per thread, merged across the
// block; lse = max + log(sum); loss = lse - logits[target] (0 for ignore_index -100).
// Backward: dlogits = grad_scale * (exp(logits - lse) - [v == target]), zero rows for -100; each
// element is read before it is written, so dlogits may alias logits. Callers that must never hold
// full fp32 logits run both over row chunks of the lm_head output.
#include <cmath>

#include "kernels/cross_entropy.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"

namespace kaito {
namespace {

constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(float* losses, float* lse, const float* logits,
                                 const int32_t* targets, int64_t V) {
  __shared__ float red_m[kThreads / 32], red_s[kThreads / 32];
  const int64_t n = blockIdx.x;
  const float* x = logits + n * V;  // seek to logits[n, :]
  float m = -INFINITY, s = 0.0f;
  for (int64_t v = threadIdx.x; v < V; v += kThreads) {
    const float xv = x[v];
    if (xv > m) {
      s = s * expf(m - xv) + 1.0f;
      m = xv;
    } else {
      s += expf(xv - m);
    }
  }
  // merge (m, s) pairs: warp, then block
  for (int off = 16; off > 0; off >>= 1) {
    const float mo = __shfl_xor_sync(0xffffffffu, m, off),
                so = __shfl_xor_sync(0xffffffffu, s, off);
    const float mm = fmaxf(m, mo);
    s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (mo == -INFINITY ? 0.0f : so * expf(mo - mm));
    m = mm;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    red_m[warp] = m;
    red_s[warp] = s;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float M = -INFINITY;
  for (int w = 0; w < kThreads / 32; ++w) M = fmaxf(M, red_m[w]);
  float S = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w)
    if (red_m[w] != -INFINITY) S += red_s[w] * expf(red_m[w] - M);
  const float l = M + logf(S);
  lse[n] = l;
  const int32_t t = targets[n];
  losses[n] = (t == cross_entropy_ignore_index || t < 0 || t >= V) ? 0.0f : l - x[t];
}

__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                  const int32_t* targets, float grad_scale, int64_t V) {
  const int64_t n = blockIdx.x;
  const float* x = logits + n * V;
  float* d = dlogits + n * V;
  const int32_t t = targets[n];
  if (t == cross_entropy_ignore_index || t < 0 || t >= V) {
    for (int64_t v = threadIdx.x; v < V; v += kThreads) d[v] = 0.0f;
    return;
  }
  const float l = lse[n];
  for (int64_t v = threadIdx.x; v < V; v += kThreads)
    d[v] = grad_scale * (expf(x[v] - l) - (v == t ? 1.0f : 0.0f));
}

}  // namespace

// launchers

void cross_entropy_forward_cuda(cuda_context& cx, float* losses, float* lse, const float* logits,
                                const int32_t* targets, int64_t N, int64_t V) {
  KAITO_CHECK(N >= 0 && N <= INT32_MAX && V > 0, "cross_entropy_forward_cuda: N=", N, " V=", V);
  if (N == 0) return;
  KAITO_LAUNCH(unsigned(N), kThreads, 0, cx.stream(), cross_entropy_forward_kernel)
  (losses, lse, logits, targets, V);
  CUDA_CHECK(cudaGetLastError());
}

void cross_entropy_backward_cuda(cuda_context& cx, float* dlogits, const float* logits,
                                 const float* lse, const int32_t* targets, float grad_scale,
                                 int64_t N, int64_t V) {
  KAITO_CHECK(N >= 0 && N <= INT32_MAX && V > 0, "cross_entropy_backward_cuda: N=", N, " V=", V);
  if (N == 0) return;
  KAITO_LAUNCH(unsigned(N), kThreads, 0, cx.stream(), cross_entropy_backward_kernel)
  (dlogits, logits, lse, targets, grad_scale, V);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
