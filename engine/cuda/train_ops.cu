// train_ops (contract: engine/cuda/train_ops.h).
#include "engine/cuda/train_ops.h"

#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pdl.cuh"

namespace kaito::gpu {
namespace {

unsigned grid_for(int64_t n) {
  return unsigned(std::clamp<int64_t>(ceil_div<int64_t>(n, 256), 1, int64_t(1) << 20));
}

// Units of 8 elements (one 16-byte vector) for [0, n8), then a scalar tail.
__global__ void add_bf16_kernel(__nv_bfloat16* out, const __nv_bfloat16* a, const __nv_bfloat16* b,
                                int64_t n, bool vec) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    const int64_t units = n / 8;
    for (int64_t u = first; u < units; u += stride) {
      float fa[8], fb[8];
      load8_bf16(fa, a + 8 * u);
      load8_bf16(fb, b + 8 * u);
#pragma unroll
      for (int j = 0; j < 8; ++j) fa[j] += fb[j];
      store8_bf16(out + 8 * u, fa);
    }
    done = units * 8;
  }
  for (int64_t i = done + first; i < n; i += stride)
    out[i] = __float2bfloat16_rn(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}

// One thread per 8-element unit of the (N, QKV) matrix; merge = true copies the other way.
__global__ void qkv_copy_kernel(__nv_bfloat16* qkv, __nv_bfloat16* q, __nv_bfloat16* k,
                                __nv_bfloat16* v, int64_t N, int64_t Q, int64_t KV, bool merge) {
  const int64_t row_units = (Q + 2 * KV) / 8;
  const int64_t units = N * row_units;
  for (int64_t u = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = u / row_units, c = (u - n * row_units) * 8;  // column in [0, QKV)
    uint4* packed = reinterpret_cast<uint4*>(qkv + n * (Q + 2 * KV) + c);
    uint4* part;
    if (c < Q) {
      part = reinterpret_cast<uint4*>(q + n * Q + c);
    } else if (c < Q + KV) {
      part = reinterpret_cast<uint4*>(k + n * KV + (c - Q));
    } else {
      part = reinterpret_cast<uint4*>(v + n * KV + (c - Q - KV));
    }
    if (merge) {
      *packed = *part;
    } else {
      *part = *packed;
    }
  }
}

// Launch shapes, shared by the launchers and the CPU emulation test: add_bf16 (vec: every
// pointer 16-byte aligned) and qkv split/merge; 256 threads per block.
constexpr int kOpsThreads = 256;
unsigned add_bf16_grid(int64_t n, bool vec) {
  return grid_for(vec ? std::max<int64_t>(n / 8, 1) : n);
}
unsigned qkv_copy_grid(int64_t N, int64_t Q, int64_t KV) {
  return grid_for(N * (Q + 2 * KV) / 8);
}

}  // namespace

// launchers: tests/cuda/engine_ops_emulation_test.cpp includes this file with KAITO_CUDA_EMULATE
// defined (tests/cuda/cuda_emulation.h) and leaves them out.
#ifndef KAITO_CUDA_NO_LAUNCHERS

void add_bf16(cuda_context& cx, bf16* out, const bf16* a, const bf16* b, int64_t n) {
  KAITO_CHECK(n >= 0, "add_bf16: n=", n);
  if (n == 0) return;
  const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
  launch_pdl(cx, add_bf16_kernel, dim3(add_bf16_grid(n, vec)), dim3(kOpsThreads), 0, as_nv(out),
             as_nv(a), as_nv(b), n, vec);
  CUDA_CHECK(cudaGetLastError());
}

void qkv_split_bf16(cuda_context& cx, bf16* q, bf16* k, bf16* v, const bf16* qkv, int64_t N,
                    int64_t Q, int64_t KV) {
  KAITO_CHECK(N >= 0 && Q > 0 && KV > 0 && Q % 8 == 0 && KV % 8 == 0, "qkv_split_bf16: N=", N,
              " Q=", Q, " KV=", KV);
  KAITO_CHECK(aligned16(q) && aligned16(k) && aligned16(v) && aligned16(qkv),
              "qkv_split_bf16: pointers must be 16-byte aligned");
  if (N == 0) return;
  KAITO_LAUNCH(qkv_copy_grid(N, Q, KV), kOpsThreads, 0, cx.stream(), qkv_copy_kernel)
  (const_cast<__nv_bfloat16*>(as_nv(qkv)), as_nv(q), as_nv(k), as_nv(v), N, Q, KV, false);
  CUDA_CHECK(cudaGetLastError());
}

void qkv_merge_bf16(cuda_context& cx, bf16* dqkv, const bf16* dq, const bf16* dk, const bf16* dv,
                    int64_t N, int64_t Q, int64_t KV) {
  KAITO_CHECK(N >= 0 && Q > 0 && KV > 0 && Q % 8 == 0 && KV % 8 == 0, "qkv_merge_bf16: N=", N,
              " Q=", Q, " KV=", KV);
  KAITO_CHECK(aligned16(dq) && aligned16(dk) && aligned16(dv) && aligned16(dqkv),
              "qkv_merge_bf16: pointers must be 16-byte aligned");
  if (N == 0) return;
  // The kernel only reads through the part pointers when merging.
  KAITO_LAUNCH(qkv_copy_grid(N, Q, KV), kOpsThreads, 0, cx.stream(), qkv_copy_kernel)
  (as_nv(dqkv), const_cast<__nv_bfloat16*>(as_nv(dq)), const_cast<__nv_bfloat16*>(as_nv(dk)),
   const_cast<__nv_bfloat16*>(as_nv(dv)), N, Q, KV, true);
  CUDA_CHECK(cudaGetLastError());
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito::gpu
