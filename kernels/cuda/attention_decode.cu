// Attention over a KV cache on the GPU, flash-decoding style (split-K over keys); contract and
// CPU twin: kernels/attention.h (attention_forward_cached_*). bf16 q/out/cache, fp32 scores,
// softmax, lse and accumulators. HS must be 16, 32, 64, 96 or 128 (head_size.cuh).
//
// Query row (b, i, h) sits at position pos = Tk - Tq + i and sees keys [j0, pos], j0 = 0 or
// pos - window + 1 (clamped at 0). Those keys are cut into nsplit chunks of `chunk` keys
// (chunk = ceil(span / nsplit), span = the longest row's key count) and each chunk goes to one
// block. Grid (nsplit, NH, B*Tq), 4 warps per block; the warps take 32-key tiles of the chunk
// round robin. Per tile, lane j scores key j (its whole k row from global in 16-byte vectors, q
// from shared memory as a broadcast), the warp keeps the online softmax (running max m, sum l)
// and the output accumulator (lane owns dims lane + 32 kd < HS), then the 4 warps merge in shared
// memory. nsplit == 1: the block writes out and lse itself. Else each block writes its partial
// (m, l, unnormalised accumulator) to arena scratch and attn_decode_merge_kernel (one warp per
// row) merges them:
//   M = max_s m_s,  L = sum_s l_s exp(m_s - M),
//   out = sum_s acc_s exp(m_s - M) / L,  lse = M + log L
// An empty chunk (a short row of a Tq > 1 call) writes m = -inf, l = 0 and weighs nothing.
// nsplit: enough blocks for about two waves of the SMs (2 * SMs / rows), at most one split per
// 128 keys (one tile per warp) and at most 64. So batch 1 decode of Phi-3 (32 rows) with a
// 4096-token cache runs 9 splits = 288 blocks instead of 32; batch 16 (512 rows) runs 1.
// Reads only cache rows [j0, pos] (rows >= Tk are never touched: the parity test poisons them).
// attention_decode_cuda: the same kernels with Tk read from device memory (d_Tk) at run time and
// the splits planned for Tk_max, so splits past the current key count are empty;
// attention_decode_rows_cuda: a key count and a cache slot per sequence, read the same way.
// Every key's cache row comes from kv_cache_row (kv_pages.cuh): contiguous slots, or a paged
// pool through a block table (vLLM's layout; a lane looks up its own key's row, and the warp
// passes the rows round for the p·v loop); attention_forward_paged_cuda is the cached attention
// of one sequence of a paged pool. With
// merge counters, no merge kernel: each split block writes its partial, __threadfence, takes a
// ticket (atomicAdd on its row's counter), and the block with the last ticket fences again and
// merges the row with L2 loads (merge_row, the merge kernel's code), then zeroes the counter (the
// threadFenceReduction pattern of the CUDA samples). The same bits as the merge kernel.
// Speed: SIMT fp32 FMAs; K rows are read once per query head (no sharing across a GQA group).
// Not measured yet on the H200 (written without a GPU; first numbers: parity_test --perf).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "kernels/attention.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/head_size.cuh"
#include "kernels/cuda/kv_pages.cuh"
#include "kernels/cuda/pdl.cuh"

namespace kaito {
namespace {

constexpr int kWarps = 4;
constexpr int kTile = 32;                         // keys per warp tile (one per lane)
constexpr int kMinKeysPerSplit = kWarps * kTile;  // below this a split leaves warps idle
constexpr int kMaxSplits = 64;

struct decode_shape {
  int Tq, Tk, Tcap, NH, NKV;
  float scale;
  int window;  // 0 = none, else clamped to Tk + 1
  int nsplit, chunk;
  const int32_t* d_Tk;  // attention_decode_cuda: the key count on the device (Tk = its maximum)
  // attention_decode_cuda with merge counters (one per row, zero, left zero): the last split
  // block of a row to finish merges the row itself (merge_row), no merge kernel
  unsigned* counters;
  // attention_decode_rows_cuda: sequence b's key count is d_Tk[b * tk_stride] (0: one for all)
  // and its keys are cache slot d_slot[b] of `slots` (d_slot null: slot b)
  int tk_stride;
  const int32_t* d_slot;
  int slots;
  // where slot s's position t lives (kernels/attention.h kv_pages; contiguous: s * Tcap + t)
  kv_page_map pages;
};

// Sequence b's key count: s.Tk, or the device value clamped into [Tq, s.Tk] (memory safety: the
// splits were planned for at most s.Tk keys, and the cache holds Tcap >= s.Tk rows).
__device__ __forceinline__ int key_count(const decode_shape& s, int b) {
  return s.d_Tk == nullptr ? s.Tk : min(max(s.d_Tk[int64_t(b) * s.tk_stride], s.Tq), s.Tk);
}

// The cache slot sequence b reads: b, or d_slot[b] clamped into [0, slots) (memory safety).
__device__ __forceinline__ int cache_slot(const decode_shape& s, int b) {
  return s.d_slot == nullptr ? b : min(max(s.d_slot[b], 0), s.slots - 1);
}

// One warp merges row `row`'s nsplit partials (lane: the warp's lane) into out and lse:
//   M = max_s m_s,  L = sum_s l_s exp(m_s - M),  out = sum_s acc_s exp(m_s - M) / L,
//   lse = M + log L.
// L2 loads (ld.global.cg): in the split kernel's last block the partials were written by other
// blocks of the same grid, and no stale L1 line may stand in for them.
template <int HS>
__device__ __forceinline__ void merge_row(__nv_bfloat16* out, float* lse, const float* part_o,
                                          const float* part_ml, int64_t row, int nsplit, int Tq,
                                          int NH, int lane) {
  constexpr int KD = head_slots<HS>;
  const float* ml = part_ml + row * nsplit * 2;
  float M = -INFINITY;
  for (int sp = lane; sp < nsplit; sp += 32) M = fmaxf(M, __ldcg(ml + 2 * sp));
  M = warp_reduce_max(M);  // finite: split 0 holds the row's first key
  float L = 0.0f;
  for (int sp = lane; sp < nsplit; sp += 32) {
    const float m = __ldcg(ml + 2 * sp);
    if (m != -INFINITY) L += __ldcg(ml + 2 * sp + 1) * expf(m - M);
  }
  L = warp_reduce_sum(L);
  float acc[KD];
#pragma unroll
  for (int kd = 0; kd < KD; ++kd) acc[kd] = 0.0f;
  for (int sp = 0; sp < nsplit; ++sp) {
    const float m = __ldcg(ml + 2 * sp);
    if (m == -INFINITY) continue;  // empty split (warp-uniform)
    const float f = expf(m - M);
    const float* po = part_o + (row * nsplit + sp) * HS;
#pragma unroll
    for (int kd = 0; kd < KD; ++kd)
      if (lane_owns<HS>(lane, kd)) acc[kd] += __ldcg(po + lane + 32 * kd) * f;
  }
  const float inv = 1.0f / L;
#pragma unroll
  for (int kd = 0; kd < KD; ++kd)
    if (lane_owns<HS>(lane, kd))
      out[row * HS + lane + 32 * kd] = __float2bfloat16_rn(acc[kd] * inv);
  if (lse != nullptr && lane == 0) {
    const int64_t bi = row / NH, h = row % NH, b = bi / Tq, i = bi % Tq;
    lse[(b * NH + h) * Tq + i] = M + logf(L);  // lse[b, h, i]
  }
}

template <int HS>
__global__ void __launch_bounds__(kWarps * 32)
    attn_decode_split_kernel(__nv_bfloat16* out, float* lse, float* part_o, float* part_ml,
                             const __nv_bfloat16* q, const __nv_bfloat16* kc,
                             const __nv_bfloat16* vc, decode_shape s) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  constexpr int KD = head_slots<HS>;
  __shared__ float qs[HS];
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wacc[kWarps][HS];
  const int split = blockIdx.x, h = blockIdx.y, bi = blockIdx.z;  // bi = b * Tq + i
  const int b = bi / s.Tq, i = bi % s.Tq;
  const int g = h / (s.NH / s.NKV);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t row = int64_t(bi) * s.NH + h;  // q/out row (b, i, h)
  for (int d = threadIdx.x; d < HS; d += blockDim.x) qs[d] = __bfloat162float(q[row * HS + d]);
  __syncthreads();

  const int pos = key_count(s, b) - s.Tq + i;
  const int j0 = s.window > 0 ? max(0, pos - s.window + 1) : 0;
  const int kbeg = j0 + split * s.chunk;
  const int kend = min(pos + 1, kbeg + s.chunk);  // exclusive; <= kbeg for an empty split
  const int64_t slot = cache_slot(s, b);
  // kv head g of cache row r: kc/vc + (r * NKV + g) * HS (rows: kv_cache_row)
  const __nv_bfloat16* kb = kc + int64_t(g) * HS;
  const __nv_bfloat16* vb = vc + int64_t(g) * HS;
  const int64_t rstride = int64_t(s.NKV) * HS;  // elements between consecutive cache rows

  float m = -INFINITY, l = 0.0f, acc[KD];
#pragma unroll
  for (int kd = 0; kd < KD; ++kd) acc[kd] = 0.0f;
  for (int t0 = kbeg + warp * kTile; t0 < kend; t0 += kWarps * kTile) {
    const int j = t0 + lane;
    float sc = -INFINITY;
    const int64_t jrow = j < kend ? kv_cache_row(s.pages, slot, j) : 0;  // key j's cache row
    if (j < kend) {
      const __nv_bfloat16* kr = kb + jrow * rstride;  // k[slot, j, g, :]
      float dot = 0.0f;
#pragma unroll
      for (int d = 0; d < HS; d += 8) {
        float kf[8];
        load8_bf16(kf, kr + d);
#pragma unroll
        for (int e = 0; e < 8; ++e) dot += qs[d + e] * kf[e];
      }
      sc = dot * s.scale;
    }
    const float m_new = fmaxf(m, warp_reduce_max(sc));
    if (m_new == -INFINITY) continue;  // warp-uniform; only with -inf scores
    const float p = j < kend ? expf(sc - m_new) : 0.0f;
    const float corr = expf(m - m_new);  // exp(-inf) = 0 on the warp's first tile
    l = l * corr + warp_reduce_sum(p);
#pragma unroll
    for (int kd = 0; kd < KD; ++kd) acc[kd] *= corr;
    const int nvalid = min(kTile, kend - t0);  // warp-uniform
    for (int jj = 0; jj < nvalid; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const int64_t vrow = __shfl_sync(0xffffffffu, jrow, jj);  // key t0 + jj's row
      const __nv_bfloat16* vr = vb + vrow * rstride;            // v[slot, t0 + jj, g, :]
#pragma unroll
      for (int kd = 0; kd < KD; ++kd)
        if (lane_owns<HS>(lane, kd)) acc[kd] += pj * __bfloat162float(vr[lane + 32 * kd]);
    }
    m = m_new;
  }

  // merge the warps
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int kd = 0; kd < KD; ++kd)
    if (lane_owns<HS>(lane, kd)) wacc[warp][lane + 32 * kd] = acc[kd];
  __syncthreads();
  float M = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) M = fmaxf(M, wm[w]);
  float f[kWarps], L = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    f[w] = wm[w] == -INFINITY ? 0.0f : expf(wm[w] - M);  // guards -inf - -inf = NaN
    L += wl[w] * f[w];
  }
  if (s.nsplit == 1) {
    // L > 0: every query row sees its own key, so split 0 of one split is never empty.
    const float inv = 1.0f / L;
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
      float o = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) o += wacc[w][d] * f[w];
      out[row * HS + d] = __float2bfloat16_rn(o * inv);
    }
    if (lse != nullptr && threadIdx.x == 0)
      lse[(int64_t(b) * s.NH + h) * s.Tq + i] = M + logf(L);  // lse[b, h, i]
  } else {
    const int64_t pr = row * s.nsplit + split;  // partial (row, split)
    for (int d = threadIdx.x; d < HS; d += blockDim.x) {
      float o = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) o += wacc[w][d] * f[w];
      part_o[pr * HS + d] = o;
    }
    if (threadIdx.x == 0) {
      part_ml[2 * pr] = M;
      part_ml[2 * pr + 1] = L;
    }
    if (s.counters != nullptr) {  // the row's last block to finish merges it
      __shared__ unsigned ticket;
      __threadfence();  // this block's partial visible device-wide before its ticket
      __syncthreads();
      if (threadIdx.x == 0) ticket = atomicAdd(s.counters + row, 1u);
      __syncthreads();
      if (ticket != unsigned(s.nsplit - 1)) return;  // block-uniform
      __threadfence();  // the other blocks' partials, after their tickets
      if (warp == 0) merge_row<HS>(out, lse, part_o, part_ml, row, s.nsplit, s.Tq, s.NH, lane);
      if (threadIdx.x == 0) s.counters[row] = 0;  // zero again for the next launch
    }
  }
}

// One warp per row (b, i, h): merges the row's nsplit partials (merge_row).
template <int HS>
__global__ void attn_decode_merge_kernel(__nv_bfloat16* out, float* lse, const float* part_o,
                                         const float* part_ml, int64_t rows, int nsplit, int Tq,
                                         int NH) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (row >= rows) return;  // whole warps
  merge_row<HS>(out, lse, part_o, part_ml, row, nsplit, Tq, NH, threadIdx.x & 31);
}

// The split plan and launch geometry, shared by the launchers below and
// tests/cuda/attention_emulation_test.cpp, which runs the kernels on the CPU with
// KAITO_CUDA_EMULATE defined (tests/cuda/cuda_emulation.h) and leaves the launchers out.
// Plans the splits for Tk keys (the maximum when d_Tk is given) on a GPU with sm_count SMs.
decode_shape plan_decode(int64_t B, int64_t Tq, int64_t Tk, int64_t Tcap, int64_t NH, int64_t NKV,
                         float scale, int64_t window, int sm_count, const int32_t* d_Tk) {
  const int64_t rows = B * Tq * NH;
  const int64_t span = window > 0 ? std::min(Tk, window) : Tk;  // the last row's key count
  const int64_t want = ceil_div<int64_t>(2 * int64_t(sm_count), rows);
  const int64_t nsplit =
      std::clamp<int64_t>(std::min(want, ceil_div<int64_t>(span, kMinKeysPerSplit)), 1, kMaxSplits);
  return {int(Tq),
          int(Tk),
          int(Tcap),
          int(NH),
          int(NKV),
          scale,
          int(std::min<int64_t>(window, Tk + 1)),
          int(nsplit),
          int(ceil_div<int64_t>(span, nsplit)),
          d_Tk,
          nullptr,
          0,
          nullptr,
          0,
          {nullptr, 0, 0, 0, Tcap}};
}

struct decode_launch {
  dim3 grid;
  int threads;
};

decode_launch split_launch(int64_t B, const decode_shape& s) {
  return {dim3(unsigned(s.nsplit), unsigned(s.NH), unsigned(B * s.Tq)), kWarps * 32};
}

// attn_decode_merge_kernel over rows = B * Tq * NH rows (only when s.nsplit > 1).
decode_launch merge_launch(int64_t rows) {
  return {dim3(unsigned(ceil_div<int64_t>(rows * 32, 128))), 128};
}

#ifndef KAITO_CUDA_NO_LAUNCHERS
template <int HS>
void decode_hs(cuda_context& cx, bf16* out, float* lse, float* part_o, float* part_ml,
               const bf16* q, const bf16* k, const bf16* v, int64_t B, const decode_shape& s) {
  const decode_launch ls = split_launch(B, s);
  launch_pdl(cx, attn_decode_split_kernel<HS>, dim3(ls.grid), dim3(ls.threads), 0, as_nv(out), lse,
             part_o, part_ml, as_nv(q), as_nv(k), as_nv(v), s);
  CUDA_CHECK(cudaGetLastError());
  if (s.nsplit == 1 || s.counters != nullptr) return;  // (counters: merged by the split kernel)
  const int64_t rows = B * s.Tq * s.NH;
  const decode_launch lm = merge_launch(rows);
  launch_pdl(cx, attn_decode_merge_kernel<HS>, dim3(lm.grid), dim3(lm.threads), 0, as_nv(out), lse,
             part_o, part_ml, rows, s.nsplit, s.Tq, s.NH);
  CUDA_CHECK(cudaGetLastError());
}

bool check_decode_shape(cuda_context& cx, const char* who, const bf16* k_cache, int64_t B,
                        int64_t Tq, int64_t Tk, int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS,
                        int64_t window) {
  if (B < 0 || Tq < 0 || Tq > Tk || Tk > Tcap || Tcap > INT32_MAX / 2 || NH <= 0 || NKV <= 0 ||
      NH % NKV != 0 || NH > 65535 || window < 0 || B * Tq > 65535 || !attention_head_size(HS)) {
    cx.record_error(invalid_argument(
        std::string(who) + ": unsupported shape B=" + std::to_string(B) + " Tq=" +
            std::to_string(Tq) + " Tk=" + std::to_string(Tk) + " Tcap=" + std::to_string(Tcap) +
            " NH=" + std::to_string(NH) + " NKV=" + std::to_string(NKV) +
            " HS=" + std::to_string(HS) + " window=" + std::to_string(window) +
            " (need Tq <= Tk <= Tcap, NH % NKV == 0, B*Tq <= 65535, HS in {16, 32, 64, 96, 128})",
        "HS"));
    return false;
  }
  if (B > 0 && Tq > 0 && !aligned16(k_cache)) {
    cx.record_error(
        invalid_argument(std::string(who) + ": k_cache must be 16-byte aligned", "k_cache"));
    return false;
  }
  return true;
}

// A paged layout must be whole and span Tcap positions (kv_pages, kernels/attention.h).
bool check_pages(cuda_context& cx, const char* who, const kv_pages& p, int64_t Tcap) {
  status st = check_kv_pages(who, p, Tcap);
  if (st.ok()) return true;
  cx.record_error(std::move(st));
  return false;
}

// Plans the splits for Tk keys (the maximum when d_Tk is given), takes the scratch, launches.
void launch_decode(cuda_context& cx, const char* who, bf16* out, float* lse, const bf16* q,
                   const bf16* k_cache, const bf16* v_cache, const int32_t* d_Tk, int64_t B,
                   int64_t Tq, int64_t Tk, int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS,
                   float scale, int64_t window, unsigned* merge_counters = nullptr,
                   const int32_t* d_slot = nullptr, int64_t slots = 0, const kv_pages& pages = {}) {
  const int64_t rows = B * Tq * NH;
  decode_shape s = plan_decode(B, Tq, Tk, Tcap, NH, NKV, scale, window, cx.sm_count(), d_Tk);
  s.counters = merge_counters;
  if (d_slot != nullptr) {  // attention_decode_rows_cuda
    s.tk_stride = 1;
    s.d_slot = d_slot;
    s.slots = int(slots);
  }
  s.pages = page_map(pages, Tcap);
  const int64_t nsplit = s.nsplit;
  const size_t mark = cx.arena().mark();
  float* part_o = nullptr;
  float* part_ml = nullptr;
  if (nsplit > 1) {
    auto po = cx.arena().alloc_array<float>(size_t(rows * nsplit * HS));
    auto pm = cx.arena().alloc_array<float>(size_t(rows * nsplit * 2));
    if (!po.ok() || !pm.ok()) {
      cx.arena().rewind(mark);
      cx.record_error(
          (po.ok() ? pm.error() : po.error()).with_context(std::string(who) + " split scratch"));
      return;
    }
    part_o = *po;
    part_ml = *pm;
  }
  with_head_size(HS, [&](auto hs) {
    decode_hs<decltype(hs)::value>(cx, out, lse, part_o, part_ml, q, k_cache, v_cache, B, s);
  });
  // The scratch is reused by the next launch; stream order keeps it valid until then.
  cx.arena().rewind(mark);
}

}  // namespace

// launchers

void attention_forward_cached_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                   const bf16* k_cache, const bf16* v_cache, int64_t B, int64_t Tq,
                                   int64_t Tk, int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS,
                                   float scale, int64_t window) {
  const char* who = "attention_forward_cached_cuda";
  if (!check_decode_shape(cx, who, k_cache, B, Tq, Tk, Tcap, NH, NKV, HS, window)) return;
  if (B == 0 || Tq == 0) return;
  launch_decode(cx, who, out, lse, q, k_cache, v_cache, nullptr, B, Tq, Tk, Tcap, NH, NKV, HS,
                scale, window);
}

void attention_decode_cuda(cuda_context& cx, bf16* out, const bf16* q, const bf16* k_cache,
                           const bf16* v_cache, const int32_t* d_Tk, int64_t B, int64_t Tk_max,
                           int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS, float scale,
                           int64_t window, uint32_t* merge_counters) {
  const char* who = "attention_decode_cuda";
  if (!check_decode_shape(cx, who, k_cache, B, 1, Tk_max, Tcap, NH, NKV, HS, window)) return;
  if (d_Tk == nullptr) {
    cx.record_error(invalid_argument(std::string(who) + ": d_Tk is null", "d_Tk"));
    return;
  }
  if (B == 0) return;
  launch_decode(cx, who, out, nullptr, q, k_cache, v_cache, d_Tk, B, 1, Tk_max, Tcap, NH, NKV, HS,
                scale, window, merge_counters);
}

void attention_decode_rows_cuda(cuda_context& cx, bf16* out, const bf16* q, const bf16* k_cache,
                                const bf16* v_cache, const int32_t* d_Tk, const int32_t* d_slot,
                                int64_t B, int64_t slots, int64_t Tk_max, int64_t Tcap, int64_t NH,
                                int64_t NKV, int64_t HS, float scale, int64_t window,
                                uint32_t* merge_counters, const kv_pages& pages) {
  const char* who = "attention_decode_rows_cuda";
  if (!check_decode_shape(cx, who, k_cache, B, 1, Tk_max, Tcap, NH, NKV, HS, window)) return;
  if (!check_pages(cx, who, pages, Tcap)) return;
  if (d_Tk == nullptr || d_slot == nullptr) {
    cx.record_error(invalid_argument(std::string(who) + ": d_Tk and d_slot must be given",
                                     d_Tk == nullptr ? "d_Tk" : "d_slot"));
    return;
  }
  if (slots < 1 || slots > 65535) {
    cx.record_error(invalid_argument(
        std::string(who) + ": slots=" + std::to_string(slots) + " not in [1, 65535]", "slots"));
    return;
  }
  if (B == 0) return;
  launch_decode(cx, who, out, nullptr, q, k_cache, v_cache, d_Tk, B, 1, Tk_max, Tcap, NH, NKV, HS,
                scale, window, merge_counters, d_slot, slots, pages);
}

void attention_forward_paged_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                  const bf16* k_cache, const bf16* v_cache, const kv_pages& pages,
                                  int64_t slot, int64_t slots, int64_t Tq, int64_t Tk, int64_t NH,
                                  int64_t NKV, int64_t HS, float scale, int64_t window) {
  const char* who = "attention_forward_paged_cuda";
  const int64_t Tcap = pages.table_ld * pages.block_size;
  if (!check_decode_shape(cx, who, k_cache, 1, Tq, Tk, Tcap, NH, NKV, HS, window)) return;
  if (pages.table == nullptr) {
    cx.record_error(invalid_argument(std::string(who) + ": pages.table is null", "pages"));
    return;
  }
  if (!check_pages(cx, who, pages, Tcap)) return;
  if (slot < 0 || slot >= slots) {
    cx.record_error(invalid_argument(std::string(who) + ": slot=" + std::to_string(slot) +
                                         " not in [0, " + std::to_string(slots) + ")",
                                     "slot"));
    return;
  }
  if (Tq == 0) return;
  kv_pages row = pages;  // the slot's table row as a one-row table: sequence 0 reads it
  row.table = pages.table + slot * pages.table_ld;
  launch_decode(cx, who, out, lse, q, k_cache, v_cache, nullptr, 1, Tq, Tk, Tcap, NH, NKV, HS,
                scale, window, nullptr, nullptr, 0, row);
}

#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
