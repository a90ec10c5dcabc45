// cuda_common.cuh: device-only helpers shared by every .cu in kernels/cuda/ (never included by
// host-only code). CUDA_CHECK / CUBLAS_CHECK turn a failed call into a kaito::status recorded in
// the launcher's `cx` (see cuda_context.h, "Errors") and return from the launcher; warp and block
// reductions (fp32); ceil_div; bf16 <-> __nv_bfloat16 pointer casts.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "base/check.h"
#include "base/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"

// For launchers (void, with `cuda_context& cx` in scope): evaluate a cudaError_t expression; on
// failure record a status naming the call and line in cx and return from the launcher.
#define CUDA_CHECK(expr)                                                                       \
  do {                                                                                         \
    cudaError_t kaito_cuda_err_ = (expr);                                                      \
    if (kaito_cuda_err_ != cudaSuccess) {                                                      \
      cx.record_error(::kaito::cuda_error_status(kaito_cuda_err_, #expr, __FILE__, __LINE__)); \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                         \
  do {                                                                                             \
    cublasStatus_t kaito_cublas_err_ = (expr);                                                     \
    if (kaito_cublas_err_ != CUBLAS_STATUS_SUCCESS) {                                              \
      cx.record_error(::kaito::cublas_error_status(kaito_cublas_err_, #expr, __FILE__, __LINE__)); \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

namespace kaito {

static_assert(sizeof(bf16) == sizeof(__nv_bfloat16), "bf16 storage struct must be 2 bytes");

// kaito::bf16 (storage struct, kernels/dtype.h) and __nv_bfloat16 share the bit layout.
inline __nv_bfloat16* as_nv(bf16* p) {
  return reinterpret_cast<__nv_bfloat16*>(p);
}
inline const __nv_bfloat16* as_nv(const bf16* p) {
  return reinterpret_cast<const __nv_bfloat16*>(p);
}

template <class T>
__host__ __device__ constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

__device__ __forceinline__ float warp_reduce_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ __forceinline__ float warp_reduce_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. `scratch` is 32 floats of shared memory; the call ends with the scratch reusable.
__device__ __forceinline__ float block_reduce_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_reduce_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.0f;
  v = warp_reduce_sum(v);
  __syncthreads();
  return v;
}

__device__ __forceinline__ float block_reduce_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_reduce_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  v = warp_reduce_max(v);
  __syncthreads();
  return v;
}

// 16-byte vectors of 8 bf16 (the unit of coalesced bf16 loads and stores).
__device__ __forceinline__ void load8_bf16(float (&f)[8], const __nv_bfloat16* p) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

__device__ __forceinline__ void store8_bf16(__nv_bfloat16* p, const float (&f)[8]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}

// True when every pointer is 16-byte aligned (the vector paths' precondition).
inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

}  // namespace kaito
