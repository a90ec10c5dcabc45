// nf4_gemv_register.cuh: the register_lut decode GEMV kernel (contract: kernels/nf4.h; launcher
// and the scaled_lut kernel: kernels/cuda/nf4_gemv.cu); internal to kernels/cuda/.
//
// No shared table and no per-element multiply. A packed word (8 elements) becomes 4 bf16x2
// registers of *unscaled* codes through byte permutes (PRMT) on two 16-byte tables held in the
// kernel's parameters (high and low byte of bf16(code)): 21 instructions (16 PRMT) per 8
// elements, about 3 PTX instructions per element with the mma and the scaling (scaled_lut: ~6).
// The k order puts each mma's 16 k-slots in one 64-block (lane t owns bytes [8t, 8t+8) of each
// 32-byte block row, elements [16t, 16t+16) of the block; x is read with the same permutation),
// so the 4 partial sums of a block's 4 mma are scaled by that block's absmax once, in fp32.
// Codes are rounded to bf16 (<= 2^-9 relative), products and sums are fp32: the error is of the
// size of scaled_lut's bf16(code * absmax).
// NT n8 tiles of batch columns: NT = 1 for B <= 8, NT = 2 for B <= 16 (each weight fragment feeds
// two mma, so batch 16 reads the weights once).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/nf4_gemv_common.cuh"
#include "kernels/cuda/nf4_mma_common.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/dtype.h"
#include "kernels/nf4.h"

namespace kaito {
namespace {

// Chunks of weight loads in flight per warp (nf4_gemv_register_kernel's D) for batch <= 8 and
// batch 9..16 (the second n8 tile's x fragments take registers). Chosen from ptxas's register
// counts, no spills; bench/cuda/nf4_gemv_versions times D = 1, 2, 4.
constexpr int kGemvDepth1 = 3;
constexpr int kGemvDepth2 = 2;

// High and low byte of bf16(nf4_code[i]), entry i in byte i%4 of word i/4.
struct nf4_byte_lut {
  uint32_t hi[4], lo[4];
};

// The byte tables (host side; also used by the tests).
inline nf4_byte_lut make_nf4_byte_lut() {
  nf4_byte_lut l{};
  for (int i = 0; i < 16; ++i) {
    const uint16_t b = f32_to_bf16(nf4_code[i]).bits;
    l.hi[i / 4] |= uint32_t(b >> 8) << (8 * (i % 4));
    l.lo[i / 4] |= uint32_t(b & 0xffu) << (8 * (i % 4));
  }
  return l;
}

// 16 entries of 8-bit table `t` (4 words) at the 4 nibbles of m<15:0> (byte n <- nibble n; m has
// every nibble's bit 3 cleared): two 8-entry permutes, then per byte the second one where the
// original nibble's bit 3 was set (`pick`: nibble n = n or n + 4).
__device__ __forceinline__ uint32_t lut16_bytes(const uint32_t (&t)[4], uint32_t m, uint32_t pick) {
  using nf4_mma::prmt;
  return prmt(prmt(t[0], t[1], m), prmt(t[2], t[3], m), pick);
}

// Packed word w (bytes b0..b3; element 2j = high nibble of bj, 2j+1 = low nibble) -> r[j] =
// bf16x2 (element 2j in the low half, 2j+1 in the high half) of the unscaled codes: 21
// instructions (16 PRMT) per 8 elements.
__device__ __forceinline__ void nf4_word_to_bf16(const nf4_byte_lut& L, uint32_t w,
                                                 uint32_t (&r)[4]) {
  const uint32_t m = w & 0x77777777u;                            // nibble index mod 8
  const uint32_t pick = 0x32103210u | ((w >> 1) & 0x44444444u);  // nibble bit 3 -> bytes 4..7
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const uint32_t s = m >> (16 * h), p = pick >> (16 * h);
    // bytes of elements [4h+1, 4h, 4h+3, 4h+2] (nibble order: low nibble of b_j first)
    const uint32_t hi = lut16_bytes(L.hi, s, p), lo = lut16_bytes(L.lo, s, p);
    r[2 * h] = nf4_mma::prmt(lo, hi, 0x4051u);      // (lo, hi) of element 4h, then of 4h+1
    r[2 * h + 1] = nf4_mma::prmt(lo, hi, 0x6273u);  // element 4h+2, then 4h+3
  }
}

// The 16 bf16x2 A-fragment registers of one 64-block for rows g (ra) and g + 8 (rb): packed words
// q.x (elements 16t + 0..7) and q.y (16t + 8..15); mma j takes elements 4j..4j+3.
__device__ __forceinline__ void block_fragments(const nf4_byte_lut& lut, uint2 qa, uint2 qb,
                                                uint32_t (&a)[4][4]) {
  uint32_t r[4][4];
  nf4_word_to_bf16(lut, qa.x, r[0]);
  nf4_word_to_bf16(lut, qa.y, r[1]);
  nf4_word_to_bf16(lut, qb.x, r[2]);
  nf4_word_to_bf16(lut, qb.y, r[3]);
#pragma unroll
  for (int j = 0; j < 4; ++j) {  // {row g k 2t.., row g+8 k 2t.., row g k 2t+8.., row g+8 ...}
    const int w = j >> 1, p = 2 * (j & 1);
    a[j][0] = r[w][p];
    a[j][1] = r[2 + w][p];
    a[j][2] = r[w][p + 1];
    a[j][3] = r[2 + w][p + 1];
  }
}

// One chunk's weight-side loads for a lane: the packed bytes of rows g (a) and g + 8 (b) in the
// chunk's two 64-blocks, and their raw scales (fp32 absmax; with DQ the code8 indices and the
// rows' nested absmax, the same for both blocks since a chunk's first block index is even).
struct chunk_loads {
  uint2 qa[2], qb[2];
  float sa[2], sb[2];     // fp32: absmax of block 0, 1; DQ: sa[0], sb[0] = nested absmax
  uint32_t ca[2], cb[2];  // DQ: qabsmax bytes of block 0, 1
};

// Nothing here is written by any kernel of a decode step, so these loads may run before
// pdl_wait(). Row and block indices are clamped in range by the caller (rows >= OC read row 0;
// their sums are never stored), so the loads need no branches.
template <bool DQ>
__device__ __forceinline__ chunk_loads load_chunk(const uint8_t* wa, const uint8_t* wb,
                                                  const absmax_src& am, int64_t blk_a,
                                                  int64_t blk_b, int ch) {
  chunk_loads l;
#pragma unroll
  for (int b = 0; b < 2; ++b) {
    l.qa[b] = __ldcs(reinterpret_cast<const uint2*>(wa + ch * 64 + 32 * b));
    l.qb[b] = __ldcs(reinterpret_cast<const uint2*>(wb + ch * 64 + 32 * b));
  }
  const int64_t ba = blk_a + 2 * ch, bb = blk_b + 2 * ch;
  if constexpr (DQ) {
#pragma unroll
    for (int b = 0; b < 2; ++b) {
      l.ca[b] = __ldg(am.qabsmax + ba + b);
      l.cb[b] = __ldg(am.qabsmax + bb + b);
    }
    l.sa[0] = __ldg(am.nested_absmax + (ba >> 8));
    l.sb[0] = __ldg(am.nested_absmax + (bb >> 8));
    l.sa[1] = l.sb[1] = 0.0f;
  } else {
#pragma unroll
    for (int b = 0; b < 2; ++b) {
      l.sa[b] = __ldg(am.absmax + ba + b);
      l.sb[b] = __ldg(am.absmax + bb + b);
      l.ca[b] = l.cb[b] = 0;
    }
  }
  return l;
}

// Block b's absmax of rows a and b (block_absmax's formula, nf4_gemv_common.cuh).
template <bool DQ>
__device__ __forceinline__ void chunk_scales(const chunk_loads& l, const absmax_src& am,
                                             float (&sa)[2], float (&sb)[2]) {
#pragma unroll
  for (int b = 0; b < 2; ++b) {
    if constexpr (DQ) {
      sa[b] = __fadd_rn(__fmul_rn(__ldg(am.code8 + l.ca[b]), l.sa[0]), am.offset);
      sb[b] = __fadd_rn(__fmul_rn(__ldg(am.code8 + l.cb[b]), l.sb[0]), am.offset);
    } else {
      sa[b] = l.sa[b];
      sb[b] = l.sb[b];
    }
  }
}

// acc += this chunk's products: x of batch rows 8nt + g (plain loads: x is the kernel ahead's
// output), issued before the dequantization so their latency overlaps it.
template <bool DQ, int NT>
__device__ __forceinline__ void chunk_mma(float (&acc)[NT][4], const chunk_loads& l,
                                          const nf4_byte_lut& lut, const absmax_src& am,
                                          const __nv_bfloat16* const (&xg)[NT], int ch) {
  uint4 xv[2][NT][2];  // x elements 64b + 16t + [8i, 8i+8) of the chunk, batch row 8nt + g
#pragma unroll
  for (int b = 0; b < 2; ++b) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
      for (int i = 0; i < 2; ++i)
        xv[b][nt][i] = *reinterpret_cast<const uint4*>(xg[nt] + ch * kGemvChunk + 64 * b + 8 * i);
    }
  }
  float sa[2], sb[2];
  chunk_scales<DQ>(l, am, sa, sb);
#pragma unroll
  for (int b = 0; b < 2; ++b) {
    uint32_t a[4][4];
    block_fragments(lut, l.qa[b], l.qb[b], a);
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const uint32_t* x32 = reinterpret_cast<const uint32_t*>(xv[b][nt]);
      float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int j = 0; j < 4; ++j) nf4_mma::mma_16816(part, a[j], x32[2 * j], x32[2 * j + 1]);
      acc[nt][0] = fmaf(part[0], sa[b], acc[nt][0]);  // rows: part 0, 1 -> g; 2, 3 -> g + 8
      acc[nt][1] = fmaf(part[1], sa[b], acc[nt][1]);
      acc[nt][2] = fmaf(part[2], sb[b], acc[nt][2]);
      acc[nt][3] = fmaf(part[3], sb[b], acc[nt][3]);
    }
  }
}

// D: chunks of weight loads in flight per warp. Slot j of a ring of D holds chunk
// warp + (i*D + j)*kGemvWarps; its next chunk's loads are issued before its math, so D chunks
// are in flight during the math (scaled_lut has one: its loads follow the previous chunk's mma,
// whose inline asm is volatile). The first D chunks load before pdl_wait().
template <bool DQ, int NT, int D>
__global__ void __launch_bounds__(kGemvWarps * 32)
    nf4_gemv_register_kernel(__nv_bfloat16* out, const __nv_bfloat16* x, const uint8_t* packed,
                             absmax_src am, int B, int C, int OC, nf4_byte_lut lut) {
  pdl_trigger();
  __shared__ float red[kGemvWarps * 32 * 4 * NT];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int row_a = blockIdx.x * kGemvRows + g, row_b = row_a + 8;
  // seek to byte 8t of each row's first 32-byte block row, and to x[8nt + g, 16t]; rows >= OC
  // and batch rows >= B are read at row 0 (their sums are not stored)
  const int64_t ra = row_a < OC ? row_a : 0, rb = row_b < OC ? row_b : 0;
  const uint8_t* wa = packed + ra * (C / 2) + 8 * t;
  const uint8_t* wb = packed + rb * (C / 2) + 8 * t;
  const int64_t blk_a = ra * (C / 64), blk_b = rb * (C / 64);
  const __nv_bfloat16* xg[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
    xg[nt] = x + int64_t(8 * nt + g < B ? 8 * nt + g : 0) * C + 16 * t;

  const int nchunks = C / kGemvChunk;
  chunk_loads ring[D] = {};
#pragma unroll
  for (int j = 0; j < D; ++j) {
    const int ch = warp + j * kGemvWarps;
    if (ch < nchunks) ring[j] = load_chunk<DQ>(wa, wb, am, blk_a, blk_b, ch);
  }
  pdl_wait();  // x is the kernel ahead's output; out may still be read by it

  float acc[NT][4] = {};
  for (int base = warp; base < nchunks; base += D * kGemvWarps) {
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int ch = base + j * kGemvWarps;
      if (ch < nchunks) {
        const chunk_loads cur = ring[j];
        const int next = ch + D * kGemvWarps;
        if (next < nchunks) ring[j] = load_chunk<DQ>(wa, wb, am, blk_a, blk_b, next);
        chunk_mma<DQ, NT>(acc, cur, lut, am, xg, ch);
      }
    }
  }
  reduce_store<NT>(red, acc, out, B, OC);
}

}  // namespace
}  // namespace kaito
