// NF4 and blockwise 8-bit quantization on the GPU; contract and CPU twins: kernels/nf4.{h,cpp}
// (nf4_quantize_cpu, quantize_blockwise_8bit_cpu; bitsandbytes kQuantizeBlockwise). Every
// floating-point step is spelled with _rn intrinsics in the CPU twin's order, so the outputs are
// bit-identical (max is exact in any order; fmaxf drops NaN as std::fmax does).
//   nf4_quantize_cuda: one warp per 64-element block, lane l owns elements 2l and 2l+1 (one packed
//     byte, even element in the high nibble); absmax = warp max of |w| (starting at 0);
//     x = w * (1 / absmax); code = number of thresholds strictly below x (NaN -> 0).
//   quantize_blockwise_8bit_cuda: one CTA of 256 threads per block of `blocksize`; code8 staged
//     in shared memory; bnb's dQuantize<0> binary search per element.
// Used at model build time (engine/cuda/gpu_model.cu), not in the training step.
#include <cuda_bf16.h>

#include <string>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/nf4.h"

namespace kaito {
namespace {

struct nf4_thresh {
  float t[15];
};

nf4_thresh make_thresh() {
  nf4_thresh t{};
  for (int i = 0; i < 15; ++i) t.t[i] = nf4_thresholds[i];
  return t;
}

__device__ __forceinline__ uint32_t nf4_code_of(float x, const nf4_thresh& th) {
  uint32_t q = 0;
#pragma unroll
  for (int k = 0; k < 15; ++k) q += (x > th.t[k]) ? 1u : 0u;
  return q;
}

constexpr int kWarpsPerCta = 8;

__global__ void nf4_quantize_kernel(uint8_t* packed, float* absmax, const float* w, int64_t n,
                                    int64_t nblocks, nf4_thresh th) {
  const int lane = threadIdx.x & 31;
  const int64_t b = int64_t(blockIdx.x) * kWarpsPerCta + (threadIdx.x >> 5);
  if (b >= nblocks) return;  // uniform per warp: the shuffles below see full warps
  const int64_t i = b * nf4_block_size + 2 * lane;  // seek to w[b*64 + 2*lane]
  const float hi = i < n ? w[i] : 0.0f;
  const float lo = i + 1 < n ? w[i + 1] : 0.0f;  // a missing last element reads as 0
  // fmaxf(0, NaN) = 0: NaN inputs are ignored, as the CPU twin's std::fmax from 0.
  float amax = fmaxf(0.0f, fmaxf(fabsf(hi), fabsf(lo)));
  amax = warp_reduce_max(amax);
  if (lane == 0) absmax[b] = amax;
  const float recip = __fdiv_rn(1.0f, amax);  // +inf for an all-zero block, as the CPU twin
  if (i < n) {
    const uint32_t qh = nf4_code_of(__fmul_rn(hi, recip), th);
    const uint32_t ql = nf4_code_of(__fmul_rn(lo, recip), th);
    packed[i >> 1] = uint8_t((qh << 4) | ql);
  }
}

// bnb dQuantize<0> (kernels/nf4.cpp quantize_8bit_value), the same fp32 operations.
__device__ uint8_t quantize_8bit_value(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    const float midpoint = __fmul_rn(__fadd_rn(upper, val), 0.5f);
    return uint8_t(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = __fmul_rn(__fadd_rn(lower, val), 0.5f);
  return uint8_t(x < midpoint ? lower_pivot : pivot);
}

constexpr int kQ8Threads = 256;

__global__ void __launch_bounds__(kQ8Threads)
    quantize_8bit_kernel(uint8_t* q, float* absmax, const float* x, const float* code8, int64_t n,
                         int64_t blocksize) {
  __shared__ float code[256];
  __shared__ float red[32];
  for (int k = threadIdx.x; k < 256; k += blockDim.x) code[k] = code8[k];
  const int64_t begin = int64_t(blockIdx.x) * blocksize;  // seek to x[block * blocksize]
  const int64_t end = min(n, begin + blocksize);
  float amax = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) amax = fmaxf(amax, fabsf(x[i]));
  amax = block_reduce_max(amax, red);  // its __syncthreads also publishes code[]
  if (threadIdx.x == 0) absmax[blockIdx.x] = amax;
  const float recip = __fdiv_rn(1.0f, amax);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    q[i] = quantize_8bit_value(code, __fmul_rn(x[i], recip));
}

// Launch shapes, shared by the launchers and the CPU emulation test.
int64_t nf4_quantize_grid(int64_t n) {
  return ceil_div<int64_t>(ceil_div<int64_t>(n, nf4_block_size), kWarpsPerCta);
}
int64_t quantize_8bit_grid(int64_t n, int64_t blocksize) {
  return ceil_div<int64_t>(n, blocksize);
}

}  // namespace

// launchers: tests/cuda/nf4_quantize_emulation_test.cpp includes this file with
// KAITO_CUDA_EMULATE defined (tests/cuda/cuda_emulation.h) and leaves them out.
#ifndef KAITO_CUDA_NO_LAUNCHERS

void nf4_quantize_cuda(cuda_context& cx, uint8_t* packed, float* absmax, const float* w,
                       int64_t n) {
  KAITO_CHECK(n >= 0, "nf4_quantize_cuda: n=", n);
  if (n == 0) return;
  const int64_t nblocks = ceil_div<int64_t>(n, nf4_block_size);
  const int64_t grid = nf4_quantize_grid(n);
  if (grid > INT32_MAX) {
    cx.record_error(
        invalid_argument("nf4_quantize_cuda: n=" + std::to_string(n) + " too large", "n"));
    return;
  }
  KAITO_LAUNCH(unsigned(grid), 32 * kWarpsPerCta, 0, cx.stream(), nf4_quantize_kernel)
  (packed, absmax, w, n, nblocks, make_thresh());
  CUDA_CHECK(cudaGetLastError());
}

void quantize_blockwise_8bit_cuda(cuda_context& cx, uint8_t* q, float* absmax, const float* x,
                                  const float* code8, int64_t n, int64_t blocksize) {
  KAITO_CHECK(n >= 0 && blocksize > 0, "quantize_blockwise_8bit_cuda: n=", n,
              " blocksize=", blocksize);
  if (n == 0) return;
  const int64_t nblocks = quantize_8bit_grid(n, blocksize);
  if (nblocks > INT32_MAX) {
    cx.record_error(invalid_argument(
        "quantize_blockwise_8bit_cuda: " + std::to_string(nblocks) + " blocks", "n"));
    return;
  }
  KAITO_LAUNCH(unsigned(nblocks), kQ8Threads, 0, cx.stream(), quantize_8bit_kernel)
  (q, absmax, x, code8, n, blocksize);
  CUDA_CHECK(cudaGetLastError());
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
