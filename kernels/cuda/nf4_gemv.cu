// Fused NF4 GEMV for decode (batch 1..8): out(B, OC) = x(B, C) · dequant(W)ᵀ; contract in
// kernels/nf4.h, CPU twin = nf4_dequantize_cpu + gemm_forward_cpu.
//
// Design: one block of 8 warps owns 16 output rows; the warps split C into 128-element chunks
// (warp w takes chunks w, w+8, ...) and their fp32 partials are summed in shared memory at the end.
// Per chunk a lane loads 16 packed bytes of row g and of row g+8 (g = lane/4) once, dequantizes
// them in registers (shared 16-entry code table, fp32 code*absmax rounded to bf16) and feeds eight
// mma.m16n8k16 (A = 16 weight rows, B = 8 batch columns of x, fp32 accumulators). The k order
// inside a chunk is permuted so that lane t (= lane%4) owns elements [32t, 32t+32) of the chunk,
// which lie in one 64-block (one absmax) and are 16 contiguous bytes; x is read with the same
// permutation, so the dot product is unchanged. Batch columns >= B are zero.
// Bytes moved: OC*C/2 (weights) + OC*C/64*4 (fp32 absmax) or *1 (DQ qabsmax) + B*C*2 + B*OC*2.
//
// Measured on the H200 (bench/cuda/nf4_gemv_versions, CUDA-graph replays, 2026-11-28): 6.8 us
// (16% of 4.8 TB/s) at OC x K = 3072x3072 B=1, 19.7 us (30%) at 16384x3072 B=1, 22.0 us (27%)
// at B=8.
// It beat the "all loads first, x in shared memory" variant (v2 in the lab) at every Phi-3 shape.
// Likely limit (inferred from that, not profiled): instruction issue in the dequantization, per
// element one shared-memory LUT load, an FMUL and half a bf16 pack. Next step (not done): look up
// unscaled bf16 code pairs per byte and apply absmax to per-block partial sums, which removes the
// FMUL and the pack and halves the LDS count.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/nf4.h"

namespace kaito {
namespace {

constexpr int kWarps = 8;
constexpr int kRows = 16;
constexpr int kChunk = 128;

struct nf4_lut {
  float v[16];
};

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

__device__ __forceinline__ uint32_t dequant_pair(const float* code, uint32_t byte, float s) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(code[byte >> 4] * s, code[byte & 15u] * s);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <bool DQ>
__global__ void __launch_bounds__(kWarps * 32)
    nf4_gemv_kernel(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed,
                    absmax_src am, int B, int C, int OC, nf4_lut lut) {
  __shared__ float code[16];
  __shared__ float red[kWarps][32][4];
  if (threadIdx.x < 16) code[threadIdx.x] = lut.v[threadIdx.x];
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row_a = blockIdx.x * kRows + g, row_b = row_a + 8;
  const bool ok_a = row_a < OC, ok_b = row_b < OC, ok_x = g < B;
  const int64_t half_c = C / 2;
  // seek to W[row, 32t] (packed bytes) and x[g, 32t]
  const uint8_t* wa = packed + int64_t(ok_a ? row_a : 0) * half_c + 16 * t;
  const uint8_t* wb = packed + int64_t(ok_b ? row_b : 0) * half_c + 16 * t;
  const __nv_bfloat16* xg = x + int64_t(ok_x ? g : 0) * C + 32 * t;
  const int64_t blk_a = (int64_t(row_a) * C + 32 * t) >> 6,
                blk_b = (int64_t(row_b) * C + 32 * t) >> 6;

  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  const int nchunks = C / kChunk;
#pragma unroll 2
  for (int ch = warp; ch < nchunks; ch += kWarps) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 qa = ok_a ? __ldcs(reinterpret_cast<const uint4*>(wa + ch * (kChunk / 2))) : zero;
    const uint4 qb = ok_b ? __ldcs(reinterpret_cast<const uint4*>(wb + ch * (kChunk / 2))) : zero;
    uint4 xv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      xv[i] = ok_x ? __ldg(reinterpret_cast<const uint4*>(xg + ch * kChunk + 8 * i)) : zero;
    const float sa = ok_a ? block_absmax<DQ>(am, blk_a + ch * (kChunk / 64)) : 0.0f;
    const float sb = ok_b ? block_absmax<DQ>(am, blk_b + ch * (kChunk / 64)) : 0.0f;
    const uint32_t wa32[4] = {qa.x, qa.y, qa.z, qa.w}, wb32[4] = {qb.x, qb.y, qb.z, qb.w};
    const uint32_t* x32 = reinterpret_cast<const uint32_t*>(xv);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      // bytes 2j, 2j+1 of the lane's 16: elements 4j..4j+3 of its 32 (high nibble first)
      const uint32_t ba0 = (wa32[j >> 1] >> (16 * (j & 1))) & 0xffu;
      const uint32_t ba1 = (wa32[j >> 1] >> (16 * (j & 1) + 8)) & 0xffu;
      const uint32_t bb0 = (wb32[j >> 1] >> (16 * (j & 1))) & 0xffu;
      const uint32_t bb1 = (wb32[j >> 1] >> (16 * (j & 1) + 8)) & 0xffu;
      mma_bf16_16816(acc, dequant_pair(code, ba0, sa), dequant_pair(code, bb0, sb),
                     dequant_pair(code, ba1, sa), dequant_pair(code, bb1, sb), x32[2 * j],
                     x32[2 * j + 1]);
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) red[warp][lane][i] = acc[i];
  __syncthreads();
  if (warp != 0) return;
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
#pragma unroll
    for (int i = 0; i < 4; ++i) s[i] += red[w][lane][i];
  }
  // accumulator layout: s0,s1 = (row g, batch 2t, 2t+1); s2,s3 = (row g+8, batch 2t, 2t+1)
  const int n0 = 2 * t, n1 = 2 * t + 1;
  if (ok_a && n0 < B) out[int64_t(n0) * OC + row_a] = __float2bfloat16_rn(s[0]);
  if (ok_a && n1 < B) out[int64_t(n1) * OC + row_a] = __float2bfloat16_rn(s[1]);
  if (ok_b && n0 < B) out[int64_t(n0) * OC + row_b] = __float2bfloat16_rn(s[2]);
  if (ok_b && n1 < B) out[int64_t(n1) * OC + row_b] = __float2bfloat16_rn(s[3]);
}

template <bool DQ>
void launch_gemv(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                 const absmax_src& am, int64_t B, int64_t C, int64_t OC) {
  KAITO_CHECK(B >= 1 && B <= 8, "nf4 gemv: batch must be 1..8, got ", B);
  KAITO_CHECK(C > 0 && C % kChunk == 0 && C <= INT32_MAX, "nf4 gemv: C must be a multiple of ",
              kChunk, ", got ", C);
  KAITO_CHECK(OC > 0 && OC <= INT32_MAX, "nf4 gemv: OC=", OC);
  KAITO_CHECK(aligned16(packed) && aligned16(x), "nf4 gemv: packed and x must be 16-byte aligned");
  nf4_lut lut{};
  for (int i = 0; i < 16; ++i) lut.v[i] = nf4_code[i];
  const unsigned grid = unsigned(ceil_div<int64_t>(OC, kRows));
  nf4_gemv_kernel<DQ><<<grid, kWarps * 32, 0, cx.stream()>>>(as_nv(out), as_nv(x), packed, am,
                                                             int(B), int(C), int(OC), lut);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

// launchers

void nf4_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                   const float* absmax, int64_t B, int64_t C, int64_t OC) {
  launch_gemv<false>(cx, out, x, packed, absmax_src{absmax, nullptr, nullptr, nullptr, 0.0f}, B, C,
                     OC);
}

void nf4_dq_gemv_cuda(cuda_context& cx, bf16* out, const bf16* x, const uint8_t* packed,
                      const uint8_t* qabsmax, const float* code8, const float* nested_absmax,
                      float offset, int64_t B, int64_t C, int64_t OC) {
  launch_gemv<true>(cx, out, x, packed, absmax_src{nullptr, qabsmax, code8, nested_absmax, offset},
                    B, C, OC);
}

}  // namespace kaito
