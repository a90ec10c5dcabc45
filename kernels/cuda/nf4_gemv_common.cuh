// nf4_gemv_common.cuh: what the two fused NF4 decode GEMV kernels share (kernels/cuda/nf4_gemv.cu
// scaled_lut, nf4_gemv_register.cuh register_lut); internal to kernels/cuda/.
//   launch shape: a block of kGemvWarps warps owns kGemvRows output rows; the warps split C into
//     kGemvChunk-element chunks (warp w takes chunks w, w + kGemvWarps, ...);
//   absmax_src / block_absmax: one 64-block's absmax, fp32 or double-quantized (the
//     nf4_absmax_dequantize formula: code8[q] * nested_absmax[blk / 256] + offset, no FMA);
//   reduce_store<NT>: the warps' mma accumulators (NT n8 tiles of batch columns) summed in shared
//     memory and stored as bf16, rows < OC and batch columns < B only.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace kaito {
namespace {

constexpr int kGemvWarps = 8;
constexpr int kGemvRows = 16;
constexpr int kGemvChunk = 128;

struct absmax_src {
  const float* absmax;         // fp32 per 64-block, or nullptr with DQ
  const uint8_t* qabsmax;      // DQ: code index per 64-block
  const float* code8;          // DQ: 256-entry dynamic map
  const float* nested_absmax;  // DQ: per 256 blocks
  float offset;                // DQ: mean absmax
};

template <bool DQ>
__device__ __forceinline__ float block_absmax(const absmax_src& a, int64_t blk) {
  if constexpr (DQ) {
    return __fadd_rn(__fmul_rn(__ldg(a.code8 + a.qabsmax[blk]), a.nested_absmax[blk >> 8]),
                     a.offset);
  } else {
    return a.absmax[blk];
  }
}

// red: kGemvWarps * 32 * 4 * NT floats of shared memory. Accumulator layout of n8 tile nt:
// acc[nt][0], [1] = (row g, batch 8nt + 2t, +1); acc[nt][2], [3] = (row g + 8, the same batches).
template <int NT>
__device__ __forceinline__ void reduce_store(float* red, const float (&acc)[NT][4],
                                             __nv_bfloat16* out, int B, int OC) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) red[((warp * 32 + lane) * NT + nt) * 4 + i] = acc[nt][i];
  }
  __syncthreads();
  if (warp != 0) return;
  const int row_a = blockIdx.x * kGemvRows + g;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int w = 0; w < kGemvWarps; ++w) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s[i] += red[((w * 32 + lane) * NT + nt) * 4 + i];
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = row_a + 8 * (i >> 1), n = 8 * nt + 2 * t + (i & 1);
      if (row < OC && n < B) out[int64_t(n) * OC + row] = __float2bfloat16_rn(s[i]);
    }
  }
}

}  // namespace
}  // namespace kaito
