// attention_delta: the first pass of both attention backwards (attention.cu's SIMT one and
// attention_mma_bwd.cu's tensor-core one), FlashAttention-2's D:
//   D[b, h, i] = sum_d dout[b, i, h, d] * out[b, i, h, d]      fp32, (B, NH, T) (=)
// dout, out: bf16 (B, T, NH, HS). One warp per (b, i, h) row, kThreads threads per block, the grid
// from grid(rows) with rows = B * T * NH. Included by both .cu files (each gets its own copy of
// the kernel: anonymous namespace), and with them by their CPU emulation tests.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace kaito::attn_delta {
namespace {

constexpr int kThreads = 256;

inline dim3 grid(int64_t rows) {
  return dim3(unsigned(ceil_div<int64_t>(rows * 32, kThreads)));
}

__global__ void kernel(float* D, const __nv_bfloat16* dout, const __nv_bfloat16* out, int64_t rows,
                       int T, int NH, int HS) {
  const int64_t w = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= rows) return;
  const __nv_bfloat16* a = dout + w * HS;
  const __nv_bfloat16* c = out + w * HS;
  float sum = 0.0f;
  for (int d = lane; d < HS; d += 32) sum += __bfloat162float(a[d]) * __bfloat162float(c[d]);
  sum = warp_reduce_sum(sum);
  // w = (b*T + i)*NH + h  ->  D index (b*NH + h)*T + i
  const int64_t h = w % NH, bi = w / NH, i = bi % T, b = bi / T;
  if (lane == 0) D[(b * NH + h) * T + i] = sum;
}

}  // namespace
}  // namespace kaito::attn_delta
