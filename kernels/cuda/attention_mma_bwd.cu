// Causal GQA attention backward with a sliding window on the tensor cores, FlashAttention-2 style;
// contract in kernels/attention.h (attention_backward_mma_cuda: attention_backward_cuda's
// contract, HS 64, 96 or 128), CPU twin attention_backward_cpu. Deterministic, no atomics: three
// launches in stream order,
//   delta: D[b,h,i] = dout_i . out_i (fp32, one warp per row; the arena holds D);
//   dk/dv: one block per (64-key tile, kv head, batch), 4 warps, warp w owns keys 16w .. 16w+15;
//     the block walks every (query head of the group, 64-row query tile) that can see its keys,
//     with Q, dO (64 x HS bf16) and lse, D (64 fp32) double-buffered by cp.async, and computes
//     in the transposed view (keys are the mma rows):
//       Sᵀ = K·Qᵀ, Pᵀ = exp(scale Sᵀ - lse) (masked to 0), dV += Pᵀ·dO,
//       dPᵀ = V·dOᵀ, dSᵀ = Pᵀ ∘ (dPᵀ - D), dK += dSᵀ·Q;  dK *= scale at the end;
//   dq: one block per (64-row query tile, query head, batch), 4 warps of 16 rows; K and V tiles
//     double-buffered as in the forward (kernels/cuda/attention_mma.cu):
//       S = Q·Kᵀ, P = exp(scale S - lse), dP = dO·Vᵀ, dS = P ∘ (dP - D), dQ += dS·K; dQ *= scale.
// Products with a shared-memory A (16 rows of the warp) and B (64 rows): tile_mma_abt, fragments by
// ldmatrix.x4 per k16 step; products with a register A (P or dS rounded to bf16, FA2's register
// reuse of the accumulators as A fragments) and B (64 x HS): tile_mma_pb, B by ldmatrix.x4.trans.
// Tiles are bf16 with rows padded to HS + 8 elements (conflict-free ldmatrix), rows past T
// zero-filled; fp32 accumulation; p in fp32 for dS, rounded to bf16 only as an mma operand.
// PTX wrappers (and their CPU emulation for tests/cuda/attention_mma_bwd_emulation_test.cpp,
// through tests/cuda/mma_emulation.h) come from nf4_mma_common.cuh.
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>

#include "kernels/attention.h"
#include "kernels/cuda/attention_delta.cuh"
#include "kernels/cuda/attention_mma_tile.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/nf4_mma_common.cuh"

namespace kaito {
namespace {

using nf4_mma::cp_async16;
using nf4_mma::cp_async4;
using nf4_mma::cp_async_commit;
using nf4_mma::cp_async_wait;
using nf4_mma::ldmatrix_x4;
using nf4_mma::ldmatrix_x4_trans;
using nf4_mma::mma_16816;
using nf4_mma::smem_addr;

constexpr int kBwdTile = 64;  // query rows and keys per tile
constexpr int kBwdWarps = kBwdTile / 16;
constexpr int kBwdThreads = 32 * kBwdWarps;
constexpr int kBwdNT = kBwdTile / 8;   // n8 tiles of a 16 x 64 score block
constexpr int kBwdPK = kBwdTile / 16;  // k16 steps over a tile's 64 rows
constexpr float kBwdLog2e = 1.4426950408889634f;

struct mma_bwd_shape {
  int T, NH, NKV;
  float scale;       // dq, dk scale
  float scale_log2;  // scale * log2(e): scores in log2 units
  int window;        // 0 = full causal; clamped to T + 1 (same rule as attention.cu)
};

template <int HS>
struct bwd_layout : attn_mma::tile<HS> {
  static constexpr int TileElems = attn_mma::tile<HS>::Elems;
  // dk/dv: K, V, then per stage Q, dO (bf16 tiles) and lse, D (fp32 rows); dq: Q, dO, then per
  // stage K, V.
  static constexpr int StatBytes = 2 * kBwdTile * 4;
  static constexpr int DkdvSmemBytes = 6 * TileElems * 2 + 2 * StatBytes;
  static constexpr int DqSmemBytes = 6 * TileElems * 2;
  static_assert(kBwdTile == attn_mma::kTileRows && kBwdThreads == attn_mma::kThreads,
                "one tile loader for every block");
  static_assert((HS / 16) % 2 == 0, "x4 loads cover pairs of k16 steps");
  static_assert(2 * kBwdTile == kBwdThreads * 1, "one lse/D element per thread");
};

// cp.async of lse and D of rows row0 .. row0+63 of (b, h) into stat[0..63] and stat[64..127];
// rows >= T read row T - 1 (their probabilities are masked to 0).
__device__ __forceinline__ void bwd_load_stats(float* stat, const float* lse, const float* D, int b,
                                               int h, int row0, int NH, int T) {
  const int r = threadIdx.x & (kBwdTile - 1);
  const float* src = threadIdx.x < kBwdTile ? lse : D;
  const int row = min(row0 + r, T - 1);
  cp_async4(smem_addr(stat + threadIdx.x), src + (int64_t(b) * NH + h) * T + row);
}

// acc = A·Bᵀ: A = 16 rows of a padded tile starting at `a` (the warp's rows), B = the 64 rows of
// the padded tile `bt`, both HS wide. acc[j] = the n8 tile of B rows 8j .. 8j+7.
template <int HS>
__device__ __forceinline__ void tile_mma_abt(float (&acc)[kBwdNT][4], const __nv_bfloat16* a,
                                             const __nv_bfloat16* bt, int lane) {
  constexpr int LD = bwd_layout<HS>::LD;
#pragma unroll
  for (int j = 0; j < kBwdNT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < HS / 16; ks += 2) {
    uint32_t a0[4], a1[4];  // lane: row lane & 15, k half lane >> 4
    ldmatrix_x4(a0, smem_addr(a + (lane & 15) * LD + ks * 16 + (lane >> 4) * 8));
    ldmatrix_x4(a1, smem_addr(a + (lane & 15) * LD + (ks + 1) * 16 + (lane >> 4) * 8));
#pragma unroll
    for (int j = 0; j < kBwdNT; ++j) {
      // matrices: B rows 8j .. 8j+7 x dims 16ks + 8m .. +7, m = 0..3 (b0 b1 of ks, of ks + 1)
      uint32_t bb[4];
      ldmatrix_x4(bb, smem_addr(bt + (j * 8 + (lane & 7)) * LD + ks * 16 + (lane >> 3) * 8));
      mma_16816(acc[j], a0, bb[0], bb[1]);
      mma_16816(acc[j], a1, bb[2], bb[3]);
    }
  }
}

// acc += P·B: P = 16 x 64 in accumulator layout (p[j] = columns 8j .. 8j+7), rounded to bf16;
// B = the 64 x HS padded tile `bt` (its rows are the k dimension). acc[d] = dims 8d .. 8d+7.
template <int HS>
__device__ __forceinline__ void tile_mma_pb(float (&acc)[HS / 8][4], const float (&p)[kBwdNT][4],
                                            const __nv_bfloat16* bt, int lane) {
  constexpr int LD = bwd_layout<HS>::LD;
#pragma unroll
  for (int kk = 0; kk < kBwdPK; ++kk) {
    // A = P(16 rows x cols 16kk .. 16kk+15): tiles 2kk (k 0-7) and 2kk+1 (k 8-15)
    const uint32_t pa[4] = {attn_mma::pack_bf16(p[2 * kk][0], p[2 * kk][1]),
                            attn_mma::pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                            attn_mma::pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                            attn_mma::pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int d = 0; d < HS / 8; d += 2) {
      // matrices (.trans): rows 16kk + 8(m & 1) .. +7 x dims 8(d + (m >> 1)) .. +7
      uint32_t vb[4];
      ldmatrix_x4_trans(vb, smem_addr(bt + (kk * 16 + (lane & 15)) * LD + d * 8 + (lane >> 4) * 8));
      mma_16816(acc[d], pa, vb[0], vb[1]);
      mma_16816(acc[d + 1], pa, vb[2], vb[3]);
    }
  }
}

__device__ __forceinline__ bool bwd_allowed(int i, int j, const mma_bwd_shape& s) {
  return i < s.T && j <= i && (s.window == 0 || i - j < s.window);
}

// Stores rows r_a, r_b (= r_a + 8) of a warp's 16 x HS accumulator times `mul` as bf16 into row
// r of head `head` of a (B, T, H, HS) tensor; rows >= T skipped.
template <int HS>
__device__ __forceinline__ void bwd_store_rows(__nv_bfloat16* dst, const float (&acc)[HS / 8][4],
                                               float mul, int b, int r_a, int head, int H, int T,
                                               int t) {
  if (r_a < T) {
    __nv_bfloat16* o = dst + ((int64_t(b) * T + r_a) * H + head) * HS + 2 * t;
#pragma unroll
    for (int d = 0; d < HS / 8; ++d)
      *reinterpret_cast<__nv_bfloat162*>(o + d * 8) =
          __floats2bfloat162_rn(acc[d][0] * mul, acc[d][1] * mul);
  }
  const int r_b = r_a + 8;
  if (r_b < T) {
    __nv_bfloat16* o = dst + ((int64_t(b) * T + r_b) * H + head) * HS + 2 * t;
#pragma unroll
    for (int d = 0; d < HS / 8; ++d)
      *reinterpret_cast<__nv_bfloat162*>(o + d * 8) =
          __floats2bfloat162_rn(acc[d][2] * mul, acc[d][3] * mul);
  }
}

// Query tiles [q_lo, q_hi] that can see keys j0 .. j0+63.
__host__ __device__ inline int bwd_q_hi(int j0, const mma_bwd_shape& s) {
  const int last = s.window == 0 ? s.T - 1 : min(s.T - 1, j0 + kBwdTile - 1 + s.window - 1);
  return last / kBwdTile;
}

// Registers (ptxas, sm_90a): dk/dv 234 / 255 (12 bytes of spills) / 255 at HS 64 / 96 / 128, dq
// 178 / 176 / 252, no spills: 2 resident dk/dv blocks per SM (8 warps); not measured on a GPU yet.
template <int HS>
__global__ void __launch_bounds__(kBwdThreads)
    attn_backward_dkdv_mma_kernel(__nv_bfloat16* dk, __nv_bfloat16* dv, const __nv_bfloat16* dout,
                                  const float* lse, const float* D, const __nv_bfloat16* q,
                                  const __nv_bfloat16* k, const __nv_bfloat16* v, mma_bwd_shape s) {
  using L = bwd_layout<HS>;
  constexpr int DT = HS / 8;
  KAITO_DYNAMIC_SMEM(unsigned char, smem);
  __nv_bfloat16* Ks = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* Vs = Ks + L::TileElems;
  __nv_bfloat16* QDs = Vs + L::TileElems;  // stage st: Q at 2 st, dO at 2 st + 1 tiles
  float* stats = reinterpret_cast<float*>(QDs + 4 * L::TileElems);  // stage st at 2 * 64 * st

  const int kt = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
  const int ratio = s.NH / s.NKV;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int gl = lane >> 2, t = lane & 3;
  const int j0 = kt * kBwdTile;
  const int kw0 = j0 + warp * 16;                 // the warp's first key
  const int key_a = kw0 + gl, key_b = key_a + 8;  // this thread's keys
  const int q_lo = kt, q_hi = bwd_q_hi(j0, s);
  const int nq = q_hi - q_lo + 1, n_it = ratio * nq;  // iteration it: head it / nq, tile it % nq

  attn_mma::load_rows<HS>(Ks, k, b, j0, g, s.NKV, s.T);
  attn_mma::load_rows<HS>(Vs, v, b, j0, g, s.NKV, s.T);
  {
    const int h = g * ratio;
    attn_mma::load_rows<HS>(QDs, q, b, q_lo * kBwdTile, h, s.NH, s.T);
    attn_mma::load_rows<HS>(QDs + L::TileElems, dout, b, q_lo * kBwdTile, h, s.NH, s.T);
    bwd_load_stats(stats, lse, D, b, h, q_lo * kBwdTile, s.NH, s.T);
  }
  cp_async_commit();

  float dka[DT][4], dva[DT][4];
#pragma unroll
  for (int d = 0; d < DT; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      dka[d][e] = 0.0f;
      dva[d][e] = 0.0f;
    }

  for (int it = 0; it < n_it; ++it) {
    const int st = it & 1;
    if (it + 1 < n_it) {  // prefetch the next (head, query tile) into the other stage
      const int h = g * ratio + (it + 1) / nq, r0 = (q_lo + (it + 1) % nq) * kBwdTile;
      __nv_bfloat16* nxt = QDs + 2 * (st ^ 1) * L::TileElems;
      attn_mma::load_rows<HS>(nxt, q, b, r0, h, s.NH, s.T);
      attn_mma::load_rows<HS>(nxt + L::TileElems, dout, b, r0, h, s.NH, s.T);
      bwd_load_stats(stats + 2 * kBwdTile * (st ^ 1), lse, D, b, h, r0, s.NH, s.T);
    }
    cp_async_commit();
    cp_async_wait<1>();  // stage st (and K, V) landed: this thread's copies ...
    __syncthreads();     // ... and everybody's
    const __nv_bfloat16* Qt = QDs + 2 * st * L::TileElems;
    const __nv_bfloat16* dOt = Qt + L::TileElems;
    const float* Ls = stats + 2 * kBwdTile * st;
    const float* Ds = Ls + kBwdTile;
    const int q0 = (q_lo + it % nq) * kBwdTile;

    // Sᵀ (16 keys x 64 queries) -> Pᵀ
    float pt[kBwdNT][4];
    tile_mma_abt<HS>(pt, Ks + warp * 16 * L::LD, Qt, lane);
    // every (key, query) of the warp's block allowed: no masking (warp-uniform)
    const bool whole = kw0 + 15 <= q0 && q0 + kBwdTile <= s.T &&
                       (s.window == 0 || q0 + kBwdTile - 1 - kw0 < s.window);
#pragma unroll
    for (int j = 0; j < kBwdNT; ++j) {
      const int c = j * 8 + 2 * t;
      const float l0 = Ls[c] * kBwdLog2e, l1 = Ls[c + 1] * kBwdLog2e;
      pt[j][0] = exp2f(pt[j][0] * s.scale_log2 - l0);
      pt[j][1] = exp2f(pt[j][1] * s.scale_log2 - l1);
      pt[j][2] = exp2f(pt[j][2] * s.scale_log2 - l0);
      pt[j][3] = exp2f(pt[j][3] * s.scale_log2 - l1);
      if (!whole) {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (!bwd_allowed(q0 + c + (e & 1), e < 2 ? key_a : key_b, s)) pt[j][e] = 0.0f;
      }
    }
    tile_mma_pb<HS>(dva, pt, dOt, lane);  // dV += Pᵀ·dO

    // dPᵀ = V·dOᵀ -> dSᵀ = Pᵀ (dPᵀ - D)
    float dst[kBwdNT][4];
    tile_mma_abt<HS>(dst, Vs + warp * 16 * L::LD, dOt, lane);
#pragma unroll
    for (int j = 0; j < kBwdNT; ++j) {
      const int c = j * 8 + 2 * t;
      const float d0 = Ds[c], d1 = Ds[c + 1];
      dst[j][0] = pt[j][0] * (dst[j][0] - d0);
      dst[j][1] = pt[j][1] * (dst[j][1] - d1);
      dst[j][2] = pt[j][2] * (dst[j][2] - d0);
      dst[j][3] = pt[j][3] * (dst[j][3] - d1);
    }
    tile_mma_pb<HS>(dka, dst, Qt, lane);  // dK += dSᵀ·Q
    __syncthreads();                      // stage st is overwritten by the next prefetch
  }
  cp_async_wait<0>();

  bwd_store_rows<HS>(dk, dka, s.scale, b, key_a, g, s.NKV, s.T, t);
  bwd_store_rows<HS>(dv, dva, 1.0f, b, key_a, g, s.NKV, s.T, t);
}

template <int HS>
__global__ void __launch_bounds__(kBwdThreads)
    attn_backward_dq_mma_kernel(__nv_bfloat16* dq, const __nv_bfloat16* dout, const float* lse,
                                const float* D, const __nv_bfloat16* q, const __nv_bfloat16* k,
                                const __nv_bfloat16* v, mma_bwd_shape s) {
  using L = bwd_layout<HS>;
  constexpr int DT = HS / 8;
  KAITO_DYNAMIC_SMEM(unsigned char, smem);
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* dOs = Qs + L::TileElems;
  __nv_bfloat16* KVs = dOs + L::TileElems;  // stage st: K at 2 st, V at 2 st + 1 tiles

  const int qt = int(gridDim.x) - 1 - int(blockIdx.x);  // longest causal rows first
  const int h = blockIdx.y, b = blockIdx.z;
  const int gkv = h / (s.NH / s.NKV);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int gl = lane >> 2, t = lane & 3;
  const int r0 = qt * kBwdTile;
  const int wr0 = r0 + warp * 16;
  const int row_a = wr0 + gl, row_b = row_a + 8;
  const int last = min(s.T, r0 + kBwdTile) - 1;
  const int first = s.window == 0 ? 0 : max(0, r0 - s.window + 1);
  const int n_lo = first / kBwdTile, n_hi = last / kBwdTile;

  attn_mma::load_rows<HS>(Qs, q, b, r0, h, s.NH, s.T);
  attn_mma::load_rows<HS>(dOs, dout, b, r0, h, s.NH, s.T);
  attn_mma::load_rows<HS>(KVs, k, b, n_lo * kBwdTile, gkv, s.NKV, s.T);
  attn_mma::load_rows<HS>(KVs + L::TileElems, v, b, n_lo * kBwdTile, gkv, s.NKV, s.T);
  cp_async_commit();

  const int64_t stat_a = (int64_t(b) * s.NH + h) * s.T + min(row_a, s.T - 1);
  const int64_t stat_b = (int64_t(b) * s.NH + h) * s.T + min(row_b, s.T - 1);
  const float l_a = lse[stat_a] * kBwdLog2e, l_b = lse[stat_b] * kBwdLog2e;
  const float D_a = D[stat_a], D_b = D[stat_b];

  float dqa[DT][4];
#pragma unroll
  for (int d = 0; d < DT; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dqa[d][e] = 0.0f;

  for (int n = n_lo; n <= n_hi; ++n) {
    const int st = (n - n_lo) & 1;
    if (n < n_hi) {  // prefetch tile n+1 into the other stage (freed by the last barrier)
      __nv_bfloat16* nxt = KVs + 2 * (st ^ 1) * L::TileElems;
      attn_mma::load_rows<HS>(nxt, k, b, (n + 1) * kBwdTile, gkv, s.NKV, s.T);
      attn_mma::load_rows<HS>(nxt + L::TileElems, v, b, (n + 1) * kBwdTile, gkv, s.NKV, s.T);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const __nv_bfloat16* Kt = KVs + 2 * st * L::TileElems;
    const __nv_bfloat16* Vt = Kt + L::TileElems;
    const int j0 = n * kBwdTile;

    // S (16 rows x 64 keys) -> P
    float p[kBwdNT][4];
    tile_mma_abt<HS>(p, Qs + warp * 16 * L::LD, Kt, lane);
    const bool whole =
        j0 + kBwdTile - 1 <= wr0 && wr0 + 15 < s.T && (s.window == 0 || wr0 + 15 - j0 < s.window);
#pragma unroll
    for (int j = 0; j < kBwdNT; ++j) {
      p[j][0] = exp2f(p[j][0] * s.scale_log2 - l_a);
      p[j][1] = exp2f(p[j][1] * s.scale_log2 - l_a);
      p[j][2] = exp2f(p[j][2] * s.scale_log2 - l_b);
      p[j][3] = exp2f(p[j][3] * s.scale_log2 - l_b);
      if (!whole) {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (!bwd_allowed(e < 2 ? row_a : row_b, j0 + j * 8 + 2 * t + (e & 1), s)) p[j][e] = 0.0f;
      }
    }
    // dP = dO·Vᵀ -> dS = P (dP - D)
    float ds[kBwdNT][4];
    tile_mma_abt<HS>(ds, dOs + warp * 16 * L::LD, Vt, lane);
#pragma unroll
    for (int j = 0; j < kBwdNT; ++j) {
      ds[j][0] = p[j][0] * (ds[j][0] - D_a);
      ds[j][1] = p[j][1] * (ds[j][1] - D_a);
      ds[j][2] = p[j][2] * (ds[j][2] - D_b);
      ds[j][3] = p[j][3] * (ds[j][3] - D_b);
    }
    tile_mma_pb<HS>(dqa, ds, Kt, lane);  // dQ += dS·K
    __syncthreads();
  }
  cp_async_wait<0>();

  bwd_store_rows<HS>(dq, dqa, s.scale, b, row_a, h, s.NH, s.T, t);
}

// Shape and launch geometry, shared by the launcher and
// tests/cuda/attention_mma_bwd_emulation_test.cpp.
mma_bwd_shape make_mma_bwd_shape(int64_t T, int64_t NH, int64_t NKV, float scale, int64_t window) {
  return {int(T), int(NH),           int(NKV),
          scale,  scale * kBwdLog2e, int(std::min<int64_t>(window, T + 1))};
}

dim3 mma_dkdv_grid(int64_t B, const mma_bwd_shape& s) {
  return dim3(unsigned(ceil_div(s.T, kBwdTile)), unsigned(s.NKV), unsigned(B));
}

dim3 mma_dq_grid(int64_t B, const mma_bwd_shape& s) {
  return dim3(unsigned(ceil_div(s.T, kBwdTile)), unsigned(s.NH), unsigned(B));
}

#ifndef KAITO_CUDA_NO_LAUNCHERS
template <int HS>
void backward_mma_hs(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout,
                     const float* lse, const float* D, const bf16* q, const bf16* k, const bf16* v,
                     int64_t B, const mma_bwd_shape& s) {
  using L = bwd_layout<HS>;
  auto* dkdv = attn_backward_dkdv_mma_kernel<HS>;
  auto* dqk = attn_backward_dq_mma_kernel<HS>;
  static std::atomic<uint64_t> dkdv_opted{0}, dq_opted{0};
  if (!nf4_mma::opt_in_smem(cx, dkdv, L::DkdvSmemBytes, dkdv_opted)) return;
  if (!nf4_mma::opt_in_smem(cx, dqk, L::DqSmemBytes, dq_opted)) return;
  KAITO_LAUNCH(mma_dkdv_grid(B, s), kBwdThreads, L::DkdvSmemBytes, cx.stream(), dkdv)
  (as_nv(dk), as_nv(dv), as_nv(dout), lse, D, as_nv(q), as_nv(k), as_nv(v), s);
  CUDA_CHECK(cudaGetLastError());
  KAITO_LAUNCH(mma_dq_grid(B, s), kBwdThreads, L::DqSmemBytes, cx.stream(), dqk)
  (as_nv(dq), as_nv(dout), lse, D, as_nv(q), as_nv(k), as_nv(v), s);
}

}  // namespace

void attention_backward_mma_cuda(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout,
                                 const bf16* out, const float* lse, const bf16* q, const bf16* k,
                                 const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                                 int64_t HS, float scale, int64_t window) {
  const std::string shape = " (B=" + std::to_string(B) + " T=" + std::to_string(T) +
                            " NH=" + std::to_string(NH) + " NKV=" + std::to_string(NKV) +
                            " HS=" + std::to_string(HS) + ")";
  if (status st = attn_mma::check_shape("attention_backward_mma_cuda", B, T, NH, NKV, HS, window);
      !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (!aligned16(q) || !aligned16(k) || !aligned16(v) || !aligned16(dout) ||
      !nf4_mma::aligned4(lse) || !nf4_mma::aligned4(dq) || !nf4_mma::aligned4(dk) ||
      !nf4_mma::aligned4(dv)) {
    cx.record_error(invalid_argument(
        "attention_backward_mma_cuda: q, k, v, dout must be 16-byte aligned, lse, dq, dk, dv "
        "4-byte aligned" +
            shape,
        "q"));
    return;
  }
  if (B == 0 || T == 0) return;
  const mma_bwd_shape s = make_mma_bwd_shape(T, NH, NKV, scale, window);
  const size_t mark = cx.arena().mark();
  auto D = cx.arena().alloc_array<float>(size_t(B) * NH * T);
  if (!D.ok()) {
    cx.record_error(D.error());
    return;
  }
  const int64_t rows = B * T * NH;
  KAITO_LAUNCH(attn_delta::grid(rows), attn_delta::kThreads, 0, cx.stream(), attn_delta::kernel)
  (*D, as_nv(dout), as_nv(out), rows, int(T), int(NH), int(HS));
  CUDA_CHECK(cudaGetLastError());
  switch (HS) {
    case 64:
      backward_mma_hs<64>(cx, dq, dk, dv, dout, lse, *D, q, k, v, B, s);
      break;
    case 96:
      backward_mma_hs<96>(cx, dq, dk, dv, dout, lse, *D, q, k, v, B, s);
      break;
    default:
      backward_mma_hs<128>(cx, dq, dk, dv, dout, lse, *D, q, k, v, B, s);
      break;
  }
  CUDA_CHECK(cudaGetLastError());
  // The arena slice is reused by the next launch; stream order keeps it valid until then.
  cx.arena().rewind(mark);
}

#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
