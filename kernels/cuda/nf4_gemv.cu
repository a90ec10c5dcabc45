// Fused NF4 GEMV for decode (batch 1..16): out(B, OC) = x(B, C) · dequant(W)ᵀ; contract in
// kernels/nf4.h, CPU twin = nf4_dequantize_cpu + gemm_forward_cpu. Two kernels, one launch shape
// (kernels/cuda/nf4_gemv_common.cuh): a block of 8 warps owns 16 output rows; the warps split C
// into 128-element chunks and their fp32 partials are summed in shared memory at the end.
// Products run on mma.m16n8k16 (A = 16 weight rows, B = 8 batch columns of x, fp32
// accumulators); columns >= B are zero. Bytes moved per call: OC*C/2 (weights) + OC*C/64*4
// (fp32 absmax) or *1 (DQ qabsmax) + B*C*2 + B*OC*2.
//
// scaled_lut (this file; batch <= 8 a launch, so batch 9..16 reads the weights twice): per chunk
//   a lane loads 16 packed bytes of row g and of row g+8 (g = lane/4) and dequantizes each element
//   as bf16(code * absmax) through a 16-entry fp32 table in shared memory, exactly as
//   nf4_dequantize_cuda. The k order inside a chunk is permuted so that lane t (= lane%4) owns
//   elements [32t, 32t+32), one 64-block, 16 contiguous bytes; x is read with the same
//   permutation. H200, CUDA-graph replays (bench/cuda/nf4_gemv_versions, 2026-11-28): 6.8 us (16%
//   of 4.8 TB/s) at OC x K = 3072x3072 B=1, 19.7 us (30%) at 16384x3072 B=1, 22.0 us (27%) at B=8.
//   About 6 PTX instructions per element (shift, and, address add, shared load, fmul, half a
//   bf16x2 pack), so issue, not loads in flight, is the likely limit (inferred, not profiled).
// register_lut (kernels/cuda/nf4_gemv_register.cuh; not yet run on a GPU): the codes through
//   byte permutes in registers, absmax applied to per-block fp32 partial sums, ~3 PTX
//   instructions per element; batch <= 16 in one launch; a ring of 3 (batch <= 8) or 2 chunks
//   of weight loads in flight per warp, the first issued before pdl_wait().
// Both launch through launch_pdl (kernels/cuda/pdl.cuh): scaled_lut waits first thing;
//   register_lut loads its first weights (no kernel writes them) before waiting for x.
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/nf4_gemv_common.cuh"
#include "kernels/cuda/nf4_gemv_register.cuh"
#include "kernels/cuda/nf4_mma_common.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/nf4.h"

namespace kaito {
namespace {

struct nf4_lut {
  float v[16];
};

__device__ __forceinline__ uint32_t dequant_pair_scaled(const float* code, uint32_t byte, float s) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(code[byte >> 4] * s, code[byte & 15u] * s);
  return *reinterpret_cast<const uint32_t*>(&h);
}

template <bool DQ>
__global__ void __launch_bounds__(kGemvWarps * 32)
    nf4_gemv_scaled_kernel(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed,
                           absmax_src am, int B, int C, int OC, nf4_lut lut) {
  pdl_trigger();
  pdl_wait();  // launched through launch_pdl (kernels/cuda/pdl.cuh): nothing is read before this
  __shared__ float code[16];
  __shared__ float red[kGemvWarps * 32 * 4];
  if (threadIdx.x < 16) code[threadIdx.x] = lut.v[threadIdx.x];
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row_a = blockIdx.x * kGemvRows + g, row_b = row_a + 8;
  const bool ok_a = row_a < OC, ok_b = row_b < OC, ok_x = g < B;
  const int64_t half_c = C / 2;
  // seek to W[row, 32t] (packed bytes) and x[g, 32t]
  const uint8_t* wa = packed + int64_t(ok_a ? row_a : 0) * half_c + 16 * t;
  const uint8_t* wb = packed + int64_t(ok_b ? row_b : 0) * half_c + 16 * t;
  const __nv_bfloat16* xg = x + int64_t(ok_x ? g : 0) * C + 32 * t;
  const int64_t blk_a = (int64_t(row_a) * C + 32 * t) >> 6,
                blk_b = (int64_t(row_b) * C + 32 * t) >> 6;

  float acc[1][4] = {};
  const int nchunks = C / kGemvChunk;
#pragma unroll 2
  for (int ch = warp; ch < nchunks; ch += kGemvWarps) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 qa = ok_a ? __ldcs(reinterpret_cast<const uint4*>(wa + ch * 64)) : zero;
    const uint4 qb = ok_b ? __ldcs(reinterpret_cast<const uint4*>(wb + ch * 64)) : zero;
    uint4 xv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      xv[i] = ok_x ? *reinterpret_cast<const uint4*>(xg + ch * kGemvChunk + 8 * i) : zero;
    const float sa = ok_a ? block_absmax<DQ>(am, blk_a + 2 * ch) : 0.0f;
    const float sb = ok_b ? block_absmax<DQ>(am, blk_b + 2 * ch) : 0.0f;
    const uint32_t wa32[4] = {qa.x, qa.y, qa.z, qa.w}, wb32[4] = {qb.x, qb.y, qb.z, qb.w};
    const uint32_t* x32 = reinterpret_cast<const uint32_t*>(xv);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      // bytes 2j, 2j+1 of the lane's 16: elements 4j..4j+3 of its 32 (high nibble first)
      const int sh = 16 * (j & 1);
      const uint32_t a[4] = {dequant_pair_scaled(code, (wa32[j >> 1] >> sh) & 0xffu, sa),
                             dequant_pair_scaled(code, (wb32[j >> 1] >> sh) & 0xffu, sb),
                             dequant_pair_scaled(code, (wa32[j >> 1] >> (sh + 8)) & 0xffu, sa),
                             dequant_pair_scaled(code, (wb32[j >> 1] >> (sh + 8)) & 0xffu, sb)};
      nf4_mma::mma_16816(acc[0], a, x32[2 * j], x32[2 * j + 1]);
    }
  }
  reduce_store<1>(red, acc, out, B, OC);
}

}  // namespace

// launchers: tests/cuda/nf4_gemv_emulation_test.cpp includes this file with KAITO_CUDA_EMULATE
// defined (tests/cuda/cuda_emulation.h) and runs the kernels above with this launch shape.
#ifndef KAITO_CUDA_NO_LAUNCHERS
namespace {

template <bool DQ>
void launch_gemv(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                 const absmax_src& am, int64_t B, int64_t C, int64_t OC, nf4_gemv_kernel kernel) {
  KAITO_CHECK(B >= 1 && B <= 16, "nf4 gemv: batch must be 1..16, got ", B);
  KAITO_CHECK(C > 0 && C % kGemvChunk == 0 && C <= INT32_MAX, "nf4 gemv: C must be a multiple of ",
              kGemvChunk, ", got ", C);
  KAITO_CHECK(OC > 0 && OC <= INT32_MAX, "nf4 gemv: OC=", OC);
  KAITO_CHECK(aligned16(packed) && aligned16(x), "nf4 gemv: packed and x must be 16-byte aligned");
  const unsigned grid = unsigned(ceil_div<int64_t>(OC, kGemvRows));
  const dim3 block(kGemvWarps * 32);
  if (kernel == nf4_gemv_kernel::register_lut) {
    const nf4_byte_lut lut = make_nf4_byte_lut();
    launch_pdl(cx,
               B <= 8 ? nf4_gemv_register_kernel<DQ, 1, kGemvDepth1>
                      : nf4_gemv_register_kernel<DQ, 2, kGemvDepth2>,
               dim3(grid), block, 0, as_nv(out), as_nv(x), packed, am, int(B), int(C), int(OC),
               lut);
  } else {
    nf4_lut lut{};
    for (int i = 0; i < 16; ++i) lut.v[i] = nf4_code[i];
    for (int64_t b0 = 0; b0 < B; b0 += 8)  // 8 batch rows a launch
      launch_pdl(cx, nf4_gemv_scaled_kernel<DQ>, dim3(grid), block, 0, as_nv(out + b0 * OC),
                 as_nv(x + b0 * C), packed, am, int(std::min<int64_t>(8, B - b0)), int(C), int(OC),
                 lut);
  }
}

}  // namespace

void nf4_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                   const float* absmax, int64_t B, int64_t C, int64_t OC, nf4_gemv_kernel kernel) {
  launch_gemv<false>(cx, out, x, packed, absmax_src{absmax, nullptr, nullptr, nullptr, 0.0f}, B, C,
                     OC, kernel);
}

void nf4_dq_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                      const uint8_t* qabsmax, const float* code8, const float* nested_absmax,
                      float offset, int64_t B, int64_t C, int64_t OC, nf4_gemv_kernel kernel) {
  launch_gemv<true>(cx, out, x, packed, absmax_src{nullptr, qabsmax, code8, nested_absmax, offset},
                    B, C, OC, kernel);
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
