// Causal GQA attention forward with a sliding window on the tensor cores, FlashAttention-2 style;
// contract in kernels/attention.h (attention_forward_mma_cuda: attention_forward_cuda's contract,
// HS 64, 96 or 128), CPU twin attention_forward_cpu. Writes out (bf16) and lse (fp32, natural log)
// in attention_forward_cuda's layouts and meaning, so attention_backward_cuda consumes them
// unchanged; out differs from the SIMT forward by p's bf16 rounding in P·V (l sums fp32 p, as FA2).
// The same kernel, instantiated Paged, is attention_forward_paged_mma_cuda: Tq queries (the last
// of Tk positions) over the keys of one slot of a paged KV cache, K/V tiles gathered row by row
// through the block table (attn_mma::load_cache_rows); only the positions in the masks move.
// Emulated on the CPU: out within ~3e-3, lse within ~1e-7 of the CPU twin (relative to the max).
//
// Grid: query tiles of 64 rows (heaviest causal tiles first) x NH x B; 4 warps, warp w owns query
// rows 16w .. 16w+15 of the tile. Keys go by tiles of 64 (only those some row of the tile sees):
//   shared memory: Q (64 x HS) once, K and V (64 x HS each) in two stages, bf16, rows padded to
//     HS + 8 elements (the 8 rows of one ldmatrix land in 8 distinct 16-byte bank groups for
//     HS = 64, 96 and 128); cp.async double buffering (tile n+1 streams in while tile n computes),
//     rows past T zero-filled;
//   S = Q·Kᵀ: Q fragments by ldmatrix.x4 once (HS/16 k16 steps), K fragments by ldmatrix.x4 (two
//     k16 steps of one n8 key tile per load), mma.sync m16n8k16 bf16 -> fp32: 16 x 64 scores;
//   mask (only on tiles that cross the diagonal, the window edge or T) to -inf, online softmax in
//     fp32 in log2 units (scores * scale * log2 e, exp2f): each thread holds rows g and g+8 of the
//     warp's 16 (g = lane / 4); row maxima by a quad shuffle, row sums per thread (one quad
//     reduction at the end); rows with nothing visible yet keep m = -inf and rescale by 0;
//   O += P·V: the fp32 probabilities rounded to bf16 become A fragments straight from the score
//     accumulators (FA2's register reuse: n8 tiles 2kk, 2kk+1 = the k16 step kk), V fragments by
//     ldmatrix.x4.trans (keys are the k dimension);
//   epilogue: out = O / l as bf16x2, lse = m ln 2 + ln l (rows < T only).
// PTX wrappers (and their CPU emulation for tests/cuda/attention_mma_emulation_test.cpp, through
// tests/cuda/mma_emulation.h) come from nf4_mma_common.cuh.
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>

#include "kernels/attention.h"
#include "kernels/cuda/attention_mma_tile.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kv_pages.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/nf4_mma_common.cuh"

namespace kaito {
namespace {

using nf4_mma::cp_async16;
using nf4_mma::cp_async_commit;
using nf4_mma::cp_async_wait;
using nf4_mma::ldmatrix_x4;
using nf4_mma::ldmatrix_x4_trans;
using nf4_mma::mma_16816;
using nf4_mma::smem_addr;

constexpr int kMmaRows = 64;  // query rows per block
constexpr int kMmaKeys = 64;  // keys per K/V tile
constexpr int kMmaWarps = kMmaRows / 16;
constexpr int kMmaThreads = 32 * kMmaWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct mma_attn_shape {
  int T, NH, NKV;    // T: query rows per sequence (and key rows, unpaged)
  float scale_log2;  // scale * log2(e): scores in log2 units
  int window;        // 0 = full causal; clamped to Tk + 1 (same rule as attention.cu)
  // Paged (attention_forward_paged_mma_cuda; B = 1): Tk keys of cache slot `slot` through
  // `pages` (kv_pages.cuh), query row i at position q0 + i = Tk - T + i. Unpaged: Tk = T, q0 = 0,
  // and the kernel's unpaged instantiation never reads these.
  int Tk, q0;
  kv_page_map pages;
  int slot;
};

using attn_mma::load_rows;
using attn_mma::pack_bf16;

template <int HS>
struct mma_layout : attn_mma::tile<HS> {
  static constexpr int TileElems = attn_mma::tile<HS>::Elems;
  static constexpr int SmemBytes = 5 * TileElems * 2;  // Q, then K0 V0 K1 V1
  static_assert(kMmaRows == kMmaKeys && kMmaRows == attn_mma::kTileRows,
                "Q and K/V tiles share the row loader");
  static_assert(kMmaThreads == attn_mma::kThreads, "one tile loader for every block");
  static_assert((HS / 16) % 2 == 0 && (HS / 8) % 2 == 0, "x4 loads cover pairs of steps");
};

// Registers (ptxas, sm_90a, no spills): 128 / 174 / 251 at HS 64 / 96 / 128, i.e. 4 / 2 / 2
// resident blocks per SM (shared memory allows 4 / 3 / 2); a minimum of 3 blocks at HS 96 caps it
// at 168 registers with 40 bytes of spills (not measured which is faster). The Paged
// instantiation: 148 / 177 / 251, no spills (3 / 2 / 2 resident blocks).
template <int HS, bool Paged = false>
__global__ void __launch_bounds__(kMmaThreads)
    attn_forward_mma_kernel(__nv_bfloat16* out, float* lse, const __nv_bfloat16* q,
                            const __nv_bfloat16* k, const __nv_bfloat16* v, mma_attn_shape s) {
  using L = mma_layout<HS>;
  constexpr int KS = HS / 16;        // k16 steps of Q·Kᵀ
  constexpr int DT = HS / 8;         // n8 tiles of O
  constexpr int NT = kMmaKeys / 8;   // n8 tiles of S
  constexpr int PK = kMmaKeys / 16;  // k16 steps of P·V
  KAITO_DYNAMIC_SMEM(unsigned char, smem);
  __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* KVs = Qs + L::TileElems;  // stage st: K at 2 st, V at 2 st + 1 tiles

  const int qt = int(gridDim.x) - 1 - int(blockIdx.x);  // longest causal rows first
  const int h = blockIdx.y, b = blockIdx.z;
  const int gkv = h / (s.NH / s.NKV);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  // query row i sits at position q0 + i; keys 0 .. Tk-1 (unpaged: the rows' own sequence)
  const int q0 = Paged ? s.q0 : 0, Tk = Paged ? s.Tk : s.T;
  const int r0 = qt * kMmaRows;
  const int wr0 = r0 + warp * 16;                                      // the warp's first row
  const int row_a = wr0 + g, row_b = row_a + 8;                        // this thread's rows
  const int pos_w = q0 + wr0, pos_a = q0 + row_a, pos_b = q0 + row_b;  // their positions
  const int last = q0 + min(s.T, r0 + kMmaRows) - 1;
  const int first = s.window == 0 ? 0 : max(0, q0 + r0 - s.window + 1);
  const int n_lo = first / kMmaKeys, n_hi = last / kMmaKeys;
  auto load_kv = [&](__nv_bfloat16* dst, int key0) {  // K at dst, V one tile on
    if constexpr (Paged) {
      attn_mma::load_cache_rows<HS>(dst, k, s.pages, s.slot, key0, gkv, s.NKV, Tk);
      attn_mma::load_cache_rows<HS>(dst + L::TileElems, v, s.pages, s.slot, key0, gkv, s.NKV, Tk);
    } else {
      load_rows<HS>(dst, k, b, key0, gkv, s.NKV, s.T);
      load_rows<HS>(dst + L::TileElems, v, b, key0, gkv, s.NKV, s.T);
    }
  };

  load_rows<HS>(Qs, q, b, r0, h, s.NH, s.T);
  load_kv(KVs, n_lo * kMmaKeys);
  cp_async_commit();

  float o[DT][4];
#pragma unroll
  for (int d = 0; d < DT; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[d][e] = 0.0f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;
  uint32_t qf[KS][4];

  for (int n = n_lo; n <= n_hi; ++n) {
    const int st = (n - n_lo) & 1;
    if (n < n_hi) {  // prefetch tile n+1 into the other stage (freed by the last barrier)
      load_kv(KVs + 2 * (st ^ 1) * L::TileElems, (n + 1) * kMmaKeys);
    }
    cp_async_commit();
    cp_async_wait<1>();  // tile n (and Q) landed: this thread's copies ...
    __syncthreads();     // ... and everybody's
    if (n == n_lo) {
#pragma unroll
      for (int ks = 0; ks < KS; ++ks)  // lane: row lane & 15, k half lane >> 4
        ldmatrix_x4(qf[ks],
                    smem_addr(Qs + (warp * 16 + (lane & 15)) * L::LD + ks * 16 + (lane >> 4) * 8));
    }
    const __nv_bfloat16* Kt = KVs + 2 * st * L::TileElems;
    const __nv_bfloat16* Vt = Kt + L::TileElems;
    const int j0 = n * kMmaKeys;

    float sc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) sc[j][e] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < KS; ks += 2) {
        // matrices: keys 8j .. 8j+7 x dims 16ks + 8m .. +7, m = 0..3 (b0 b1 of ks, of ks + 1)
        uint32_t kb[4];
        ldmatrix_x4(kb, smem_addr(Kt + (j * 8 + (lane & 7)) * L::LD + ks * 16 + (lane >> 3) * 8));
        mma_16816(sc[j], qf[ks], kb[0], kb[1]);
        mma_16816(sc[j], qf[ks + 1], kb[2], kb[3]);
      }
    }

    // every (row, key) of the warp's 16 x 64 block allowed: no masking (warp-uniform)
    const bool whole = j0 + kMmaKeys - 1 <= pos_w && j0 + kMmaKeys <= Tk &&
                       (s.window == 0 || pos_w + 15 - j0 < s.window);
    if (!whole) {
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = j0 + j * 8 + 2 * t + (e & 1), pos = e < 2 ? pos_a : pos_b;
          const bool ok = key <= pos && key < Tk && (s.window == 0 || pos - key < s.window);
          if (!ok) sc[j][e] = -INFINITY;
        }
    }

    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      mx_a = fmaxf(mx_a, fmaxf(sc[j][0], sc[j][1]));
      mx_b = fmaxf(mx_b, fmaxf(sc[j][2], sc[j][3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {  // the quad holding the row
      mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, off));
      mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, off));
    }
    const float mn_a = fmaxf(m_a, mx_a * s.scale_log2), mn_b = fmaxf(m_b, mx_b * s.scale_log2);
    // a row with nothing visible so far: exponents against 0 (every p and the rescale are 0)
    const float base_a = mn_a == -INFINITY ? 0.0f : mn_a;
    const float base_b = mn_b == -INFINITY ? 0.0f : mn_b;
    const float corr_a = exp2f(m_a - base_a), corr_b = exp2f(m_b - base_b);
    m_a = mn_a;
    m_b = mn_b;
    l_a *= corr_a;
    l_b *= corr_b;
#pragma unroll
    for (int d = 0; d < DT; ++d) {
      o[d][0] *= corr_a;
      o[d][1] *= corr_a;
      o[d][2] *= corr_b;
      o[d][3] *= corr_b;
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      sc[j][0] = exp2f(sc[j][0] * s.scale_log2 - base_a);
      sc[j][1] = exp2f(sc[j][1] * s.scale_log2 - base_a);
      sc[j][2] = exp2f(sc[j][2] * s.scale_log2 - base_b);
      sc[j][3] = exp2f(sc[j][3] * s.scale_log2 - base_b);
      l_a += sc[j][0] + sc[j][1];
      l_b += sc[j][2] + sc[j][3];
    }

#pragma unroll
    for (int kk = 0; kk < PK; ++kk) {
      // A = P(16 rows x keys 16kk .. 16kk+15): score tiles 2kk (k 0-7) and 2kk+1 (k 8-15)
      const uint32_t pa[4] = {pack_bf16(sc[2 * kk][0], sc[2 * kk][1]),
                              pack_bf16(sc[2 * kk][2], sc[2 * kk][3]),
                              pack_bf16(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack_bf16(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int d = 0; d < DT; d += 2) {
        // matrices (.trans): keys 16kk + 8(m & 1) .. +7 x dims 8(d + (m >> 1)) .. +7
        uint32_t vb[4];
        ldmatrix_x4_trans(
            vb, smem_addr(Vt + (kk * 16 + (lane & 15)) * L::LD + d * 8 + (lane >> 4) * 8));
        mma_16816(o[d], pa, vb[0], vb[1]);
        mma_16816(o[d + 1], pa, vb[2], vb[3]);
      }
    }
    __syncthreads();  // stage st is overwritten by the next iteration's prefetch
  }
  cp_async_wait<0>();

#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l_a += __shfl_xor_sync(0xffffffffu, l_a, off);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, off);
  }
  const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f, inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
  if (row_a < s.T) {
    __nv_bfloat16* dst = out + ((int64_t(b) * s.T + row_a) * s.NH + h) * HS + 2 * t;
#pragma unroll
    for (int d = 0; d < DT; ++d)
      *reinterpret_cast<__nv_bfloat162*>(dst + d * 8) =
          __floats2bfloat162_rn(o[d][0] * inv_a, o[d][1] * inv_a);
    if (t == 0) lse[(int64_t(b) * s.NH + h) * s.T + row_a] = m_a * kLn2 + logf(l_a);
  }
  if (row_b < s.T) {
    __nv_bfloat16* dst = out + ((int64_t(b) * s.T + row_b) * s.NH + h) * HS + 2 * t;
#pragma unroll
    for (int d = 0; d < DT; ++d)
      *reinterpret_cast<__nv_bfloat162*>(dst + d * 8) =
          __floats2bfloat162_rn(o[d][2] * inv_b, o[d][3] * inv_b);
    if (t == 0) lse[(int64_t(b) * s.NH + h) * s.T + row_b] = m_b * kLn2 + logf(l_b);
  }
}

// Shape and grid, shared by the launcher and tests/cuda/attention_mma_emulation_test.cpp.
mma_attn_shape make_mma_attn_shape(int64_t T, int64_t NH, int64_t NKV, float scale,
                                   int64_t window) {
  return {int(T), int(NH), int(NKV), scale * kLog2e, int(std::min<int64_t>(window, T + 1)), int(T),
          0,      {},      0};
}

// Tq queries, the last of Tk keys of one paged cache slot (attention_forward_paged_mma_cuda).
mma_attn_shape make_mma_paged_shape(int64_t Tq, int64_t Tk, int64_t NH, int64_t NKV, float scale,
                                    int64_t window, const kv_pages& pages, int64_t slot) {
  mma_attn_shape s = make_mma_attn_shape(Tq, NH, NKV, scale, window);
  s.window = int(std::min<int64_t>(window, Tk + 1));
  s.Tk = int(Tk);
  s.q0 = int(Tk - Tq);
  s.pages = page_map(pages, pages.table_ld * pages.block_size);
  s.slot = int(slot);
  return s;
}

dim3 mma_forward_grid(int64_t B, const mma_attn_shape& s) {
  return dim3(unsigned(ceil_div(s.T, kMmaRows)), unsigned(s.NH), unsigned(B));
}

#ifndef KAITO_CUDA_NO_LAUNCHERS
template <int HS, bool Paged>
void forward_mma_hs(cuda_context& cx, bf16* out, float* lse, const bf16* q, const bf16* k,
                    const bf16* v, int64_t B, const mma_attn_shape& s) {
  auto* kernel = attn_forward_mma_kernel<HS, Paged>;
  static std::atomic<uint64_t> opted_in{0};
  if (!nf4_mma::opt_in_smem(cx, kernel, mma_layout<HS>::SmemBytes, opted_in)) return;
  KAITO_LAUNCH(mma_forward_grid(B, s), kMmaThreads, mma_layout<HS>::SmemBytes, cx.stream(), kernel)
  (as_nv(out), lse, as_nv(q), as_nv(k), as_nv(v), s);
}

template <bool Paged>
void forward_mma(cuda_context& cx, bf16* out, float* lse, const bf16* q, const bf16* k,
                 const bf16* v, int64_t B, int64_t HS, const mma_attn_shape& s) {
  switch (HS) {
    case 64:
      forward_mma_hs<64, Paged>(cx, out, lse, q, k, v, B, s);
      break;
    case 96:
      forward_mma_hs<96, Paged>(cx, out, lse, q, k, v, B, s);
      break;
    default:
      forward_mma_hs<128, Paged>(cx, out, lse, q, k, v, B, s);
      break;
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void attention_forward_mma_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t B, int64_t T, int64_t NH,
                                int64_t NKV, int64_t HS, float scale, int64_t window) {
  const std::string shape = " (B=" + std::to_string(B) + " T=" + std::to_string(T) +
                            " NH=" + std::to_string(NH) + " NKV=" + std::to_string(NKV) +
                            " HS=" + std::to_string(HS) + ")";
  if (status st = attn_mma::check_shape("attention_forward_mma_cuda", B, T, NH, NKV, HS, window);
      !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (!aligned16(q) || !aligned16(k) || !aligned16(v) || !nf4_mma::aligned4(out) ||
      !nf4_mma::aligned4(lse)) {
    cx.record_error(invalid_argument(
        "attention_forward_mma_cuda: q, k, v must be 16-byte aligned, out and lse 4-byte aligned" +
            shape,
        "q"));
    return;
  }
  if (B == 0 || T == 0) return;
  forward_mma<false>(cx, out, lse, q, k, v, B, HS, make_mma_attn_shape(T, NH, NKV, scale, window));
}

void attention_forward_paged_mma_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                      const bf16* k_cache, const bf16* v_cache,
                                      const kv_pages& pages, int64_t slot, int64_t slots,
                                      int64_t Tq, int64_t Tk, int64_t NH, int64_t NKV, int64_t HS,
                                      float scale, int64_t window) {
  const char* who = "attention_forward_paged_mma_cuda";
  if (status st = attn_mma::check_shape(who, 1, Tq, NH, NKV, HS, window); !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (pages.table == nullptr) {
    cx.record_error(invalid_argument(std::string(who) + ": pages.table is null", "pages"));
    return;
  }
  const int64_t Tcap = pages.table_ld * pages.block_size;
  if (status st = check_kv_pages(who, pages, Tcap); !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (Tq > Tk || Tk > Tcap || Tcap > INT32_MAX / 2) {
    cx.record_error(invalid_argument(
        std::string(who) + ": need Tq <= Tk <= Tcap <= 2^30 (Tq=" + std::to_string(Tq) +
            " Tk=" + std::to_string(Tk) + " Tcap=" + std::to_string(Tcap) + ")",
        "Tk"));
    return;
  }
  if (slot < 0 || slot >= slots) {
    cx.record_error(invalid_argument(std::string(who) + ": slot=" + std::to_string(slot) +
                                         " not in [0, " + std::to_string(slots) + ")",
                                     "slot"));
    return;
  }
  if (!aligned16(q) || !aligned16(k_cache) || !aligned16(v_cache) || !nf4_mma::aligned4(out) ||
      lse == nullptr || !nf4_mma::aligned4(lse)) {
    cx.record_error(invalid_argument(std::string(who) +
                                         ": q, k_cache, v_cache must be 16-byte aligned, out and "
                                         "lse (non-null) 4-byte aligned",
                                     "q"));
    return;
  }
  if (Tq == 0) return;
  forward_mma<true>(cx, out, lse, q, k_cache, v_cache, 1, HS,
                    make_mma_paged_shape(Tq, Tk, NH, NKV, scale, window, pages, slot));
}

#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
