// Small kernels of GPU inference; contracts in engine/cuda/infer_ops.h.
#include "engine/cuda/infer_ops.h"

#include <cuda_bf16.h>

#include <climits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kv_pages.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lora_decode_z.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/rope_pair.cuh"

namespace kaito::gpu {
namespace {

__device__ __forceinline__ void argmax_merge(float& best, int& at, float v, int i) {
  if (v > best || (v == best && i < at)) {
    best = v;
    at = i;
  }
}

// One block per sequence b.
constexpr int kArgmaxThreads = 1024;
__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_kernel(int32_t* ids, int32_t* gen, int64_t gen_ld, const int32_t* state,
                  const __nv_bfloat16* logits, int V) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  __shared__ float sv[32];
  __shared__ int si[32];
  const int b = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const __nv_bfloat16* row = logits + int64_t(b) * V;
  float best = -INFINITY;
  int at = INT_MAX;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float x = __bfloat162float(row[v]);
    if (x > best) {  // v grows per thread: strict > keeps the lowest index; NaN compares false
      best = x;
      at = v;
    }
  }
  for (int off = 16; off > 0; off >>= 1)
    argmax_merge(best, at, __shfl_xor_sync(0xffffffffu, best, off),
                 __shfl_xor_sync(0xffffffffu, at, off));
  if (lane == 0) {
    sv[warp] = best;
    si[warp] = at;
  }
  __syncthreads();
  if (warp != 0) return;
  const int nwarps = blockDim.x >> 5;
  best = lane < nwarps ? sv[lane] : -INFINITY;
  at = lane < nwarps ? si[lane] : INT_MAX;
  for (int off = 16; off > 0; off >>= 1)
    argmax_merge(best, at, __shfl_xor_sync(0xffffffffu, best, off),
                 __shfl_xor_sync(0xffffffffu, at, off));
  if (lane == 0) {
    const int id = at == INT_MAX ? 0 : at;
    ids[b] = id;
    gen[int64_t(b) * gen_ld + state[2]] = id;
  }
}

// Dim pair p (pair j of rope_pair_dims) of head hh of row b, holding x1, x2, at position pos,
// whose cache row is `row` (kv_cache_row): a q or k head is rotated (rope_forward_cuda's step,
// kernels/cuda/rope_pair.cuh; a pass-through pair copied) into q[b, hh] or k_cache[row, g]; a v
// head is copied to v_cache[row, g].
__device__ __forceinline__ void decode_qkv_pair(__nv_bfloat16* q, __nv_bfloat16* kc,
                                                __nv_bfloat16* vc, const float* cos,
                                                const float* sin, int64_t pos, int64_t b,
                                                int64_t row, int hh, int j, const rope_pair& p,
                                                int NH, int NKV, int HS, int RD, __nv_bfloat16 x1b,
                                                __nv_bfloat16 x2b) {
  __nv_bfloat16* o = hh < NH         ? q + (b * NH + hh) * HS                    // q[b, hh]
                     : hh < NH + NKV ? kc + (row * NKV + (hh - NH)) * HS         // k_cache
                                     : vc + (row * NKV + (hh - NH - NKV)) * HS;  // v_cache
  if (hh >= NH + NKV || !p.rotate) {  // v head, or partial rotary's pass-through dims
    o[p.d1] = x1b;
    o[p.d2] = x2b;
    return;
  }
  const float2 y = rope_rotate(__bfloat162float(x1b), __bfloat162float(x2b), cos + pos * RD,
                               sin + pos * RD, j, RD);  // table row of position pos
  o[p.d1] = __float2bfloat16_rn(y.x);
  o[p.d2] = __float2bfloat16_rn(y.y);
}

// One thread per (b, head hh of the NH + 2 NKV heads of a qkv row, dim pair j < HS/2). Row b goes
// to position pos[b * pos_stride] of cache slot slot[b] (slot null: b; clamped into [0, slots)),
// the cache row `pages` maps it to.
// LORA (decode_qkv_lora_cuda): the block first forms z = bf16(h · Aᵀ) for every row
// (lora_decode_z), and each thread adds the LoRA terms of its two qkv columns (add_lora_term,
// stored back into qkv) before the rotation: lora_decode_cuda then decode_qkv_cuda, bit for bit.
template <bool LORA, bool VEC>
__global__ void decode_qkv_kernel(__nv_bfloat16* q, __nv_bfloat16* kc, __nv_bfloat16* vc,
                                  __nv_bfloat16* qkv, const float* cos, const float* sin,
                                  const int32_t* pos, int pos_stride, const int32_t* slot,
                                  int slots, int64_t total, int NH, int NKV, int HS, int RD,
                                  kv_page_map pages, const __nv_bfloat16* h, const __nv_bfloat16* A,
                                  const __nv_bfloat16* Bl, int N, int IN, int R, float scale) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  __shared__ float zs[LORA ? kDecodeMaxRows * kDecodeMaxRank : 1];
  if constexpr (LORA) lora_decode_z<VEC>(zs, h, A, N, IN, R);  // every thread, before any return
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int H = HS / 2, heads = NH + 2 * NKV;
  const int j = int(idx % H);
  const int64_t bh = idx / H;  // b * heads + hh
  const int hh = int(bh % heads);
  const int64_t b = bh / heads;
  __nv_bfloat16* x = qkv + bh * HS;  // seek to qkv[b, head hh, :]
  const rope_pair p = rope_pair_dims(j, RD);
  __nv_bfloat16 x1 = x[p.d1], x2 = x[p.d2];
  if constexpr (LORA) {
    const int64_t col = int64_t(hh) * HS;  // the head's first column within row b
    x1 = add_lora_term(x + p.d1, Bl + (col + p.d1) * R, zs + b * R, R, scale);
    x2 = add_lora_term(x + p.d2, Bl + (col + p.d2) * R, zs + b * R, R, scale);
  }
  const int64_t at = slot == nullptr ? b : min(max(slot[b], 0), slots - 1);
  const int64_t ps = pos[b * pos_stride];
  decode_qkv_pair(q, kc, vc, cos, sin, ps, b, kv_cache_row(pages, at, ps), hh, j, p, NH, NKV, HS,
                  RD, x1, x2);
}

// kv_cache_write_cuda: one thread per 8 bf16 (16 bytes) of a (position, kvd) row when VEC (kvd %
// 8 == 0 and every pointer 16-byte aligned), else per element; rows from kv_cache_row.
template <bool VEC>
__global__ void kv_write_kernel(__nv_bfloat16* kc, __nv_bfloat16* vc, const __nv_bfloat16* k,
                                const __nv_bfloat16* v, kv_page_map pages, int64_t slot,
                                int64_t start, int64_t n, int64_t kvd) {
  constexpr int W = VEC ? 8 : 1;
  const int64_t per_row = kvd / W;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * per_row) return;
  const int64_t t = idx / per_row, e = (idx % per_row) * W;
  const int64_t dst = kv_cache_row(pages, slot, start + t) * kvd + e, src = t * kvd + e;
  if constexpr (VEC) {
    *reinterpret_cast<uint4*>(kc + dst) = *reinterpret_cast<const uint4*>(k + src);
    *reinterpret_cast<uint4*>(vc + dst) = *reinterpret_cast<const uint4*>(v + src);
  } else {
    kc[dst] = k[src];
    vc[dst] = v[src];
  }
}

__global__ void set_state_kernel(int32_t* state, int32_t pos, int32_t step) {
  state[0] = pos;
  state[1] = pos + 1;
  state[2] = step;
}

__global__ void advance_state_kernel(int32_t* state) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  state[0] += 1;
  state[1] += 1;
  state[2] += 1;
}

// decode_qkv_kernel's launch: one thread per (b, head, pair).
constexpr int kDecodeThreads = 256;
int64_t decode_qkv_total(int64_t B, int64_t NH, int64_t NKV, int64_t HS) {
  return B * (NH + 2 * NKV) * (HS / 2);
}

}  // namespace

// launchers: tests/cuda/engine_ops_emulation_test.cpp includes this file with KAITO_CUDA_EMULATE
// defined (tests/cuda/cuda_emulation.h) and leaves them out.
#ifndef KAITO_CUDA_NO_LAUNCHERS

void argmax_rows_cuda(cuda_context& cx, int32_t* ids, int32_t* gen, int64_t gen_ld,
                      const int32_t* state, const bf16* logits, int64_t B, int64_t V) {
  KAITO_CHECK(B >= 0 && B <= INT32_MAX && V > 0 && V <= INT32_MAX, "argmax_rows_cuda: B=", B,
              " V=", V);
  if (B == 0) return;
  launch_pdl(cx, argmax_kernel, dim3(unsigned(B)), dim3(kArgmaxThreads), 0, ids, gen, gen_ld, state,
             as_nv(logits), int(V));
  CUDA_CHECK(cudaGetLastError());
}

namespace {

// The launch's thread count (0: nothing to do); aborts on a shape no caller may pass.
int64_t decode_qkv_threads(const char* who, const decode_rows& rows, int64_t B, int64_t NH,
                           int64_t NKV, int64_t HS, int64_t RD, int64_t Tcap) {
  KAITO_CHECK(B >= 0 && NH > 0 && NKV > 0 && HS > 0 && HS % 2 == 0 && Tcap > 0 &&
                  NH + 2 * NKV <= INT32_MAX && HS <= INT32_MAX && RD >= 2 && RD % 2 == 0 &&
                  RD <= HS,
              who, ": bad shape B=", B, " NH=", NH, " NKV=", NKV, " HS=", HS, " RD=", RD);
  KAITO_CHECK(rows.pos != nullptr && (rows.pos_stride == 0 || rows.pos_stride == 1) &&
                  (rows.slot == nullptr || (rows.slots >= 1 && rows.slots <= INT32_MAX)),
              who, ": bad decode_rows pos_stride=", rows.pos_stride, " slots=", rows.slots);
  const kv_pages& pg = rows.pages;
  KAITO_CHECK(
      pg.table == nullptr || (pg.block_size >= 1 && pg.table_ld >= 1 && pg.blocks >= 1 &&
                              pg.block_size <= INT32_MAX && pg.table_ld <= INT32_MAX &&
                              pg.blocks <= INT32_MAX && pg.block_size * pg.table_ld == Tcap),
      who, ": bad pages block_size=", pg.block_size, " table_ld=", pg.table_ld,
      " blocks=", pg.blocks, " Tcap=", Tcap);
  return decode_qkv_total(B, NH, NKV, HS);
}

}  // namespace

void decode_qkv_cuda(cuda_context& cx, bf16* q, bf16* k_cache, bf16* v_cache, const bf16* qkv,
                     const float* cos, const float* sin, const decode_rows& rows, int64_t B,
                     int64_t NH, int64_t NKV, int64_t HS, int64_t RD, int64_t Tcap) {
  const int64_t total = decode_qkv_threads("decode_qkv_cuda", rows, B, NH, NKV, HS, RD, Tcap);
  if (total == 0) return;
  // (without LORA the kernel only reads qkv)
  launch_pdl(cx, decode_qkv_kernel<false, false>,
             dim3(unsigned(ceil_div<int64_t>(total, kDecodeThreads))), dim3(kDecodeThreads), 0,
             as_nv(q), as_nv(k_cache), as_nv(v_cache), const_cast<__nv_bfloat16*>(as_nv(qkv)), cos,
             sin, rows.pos, int(rows.pos_stride), rows.slot, int(rows.slots), total, int(NH),
             int(NKV), int(HS), int(RD), page_map(rows.pages, Tcap), nullptr, nullptr, nullptr, 0,
             0, 0, 0.0f);
  CUDA_CHECK(cudaGetLastError());
}

void decode_qkv_lora_cuda(cuda_context& cx, bf16* q, bf16* k_cache, bf16* v_cache, bf16* qkv,
                          const float* cos, const float* sin, const decode_rows& rows, int64_t B,
                          int64_t NH, int64_t NKV, int64_t HS, int64_t RD, int64_t Tcap,
                          const bf16* h, const bf16* A, const bf16* Bl, int64_t IN, int64_t R,
                          float scale) {
  KAITO_CHECK(B <= kDecodeMaxRows && R > 0 && R <= kDecodeMaxRank && IN > 0 && IN <= INT32_MAX,
              "decode_qkv_lora_cuda: bad LoRA shape B=", B, " IN=", IN, " R=", R);
  const int64_t total = decode_qkv_threads("decode_qkv_lora_cuda", rows, B, NH, NKV, HS, RD, Tcap);
  if (total == 0) return;
  const bool vec = IN % 8 == 0 && aligned16(h) && aligned16(A);
  launch_pdl(cx, vec ? decode_qkv_kernel<true, true> : decode_qkv_kernel<true, false>,
             dim3(unsigned(ceil_div<int64_t>(total, kDecodeThreads))), dim3(kDecodeThreads), 0,
             as_nv(q), as_nv(k_cache), as_nv(v_cache), as_nv(qkv), cos, sin, rows.pos,
             int(rows.pos_stride), rows.slot, int(rows.slots), total, int(NH), int(NKV), int(HS),
             int(RD), page_map(rows.pages, Tcap), as_nv(h), as_nv(A), as_nv(Bl), int(B), int(IN),
             int(R), scale);
  CUDA_CHECK(cudaGetLastError());
}

void kv_cache_write_cuda(cuda_context& cx, bf16* k_cache, bf16* v_cache, const bf16* k,
                         const bf16* v, const kv_pages& pages, int64_t slot, int64_t start,
                         int64_t n, int64_t kvd) {
  KAITO_CHECK(pages.table != nullptr && pages.block_size >= 1 && pages.table_ld >= 1 &&
                  pages.blocks >= 1 && pages.block_size <= INT32_MAX &&
                  pages.table_ld <= INT32_MAX && pages.blocks <= INT32_MAX && slot >= 0 &&
                  start >= 0 && n >= 0 && kvd > 0 && start + n <= pages.table_ld * pages.block_size,
              "kv_cache_write_cuda: bad shape slot=", slot, " start=", start, " n=", n,
              " kvd=", kvd, " block_size=", pages.block_size, " table_ld=", pages.table_ld);
  if (n == 0) return;
  const bool vec =
      kvd % 8 == 0 && aligned16(k_cache) && aligned16(v_cache) && aligned16(k) && aligned16(v);
  const int64_t total = n * (vec ? kvd / 8 : kvd);
  const kv_page_map map = page_map(pages, pages.table_ld * pages.block_size);
  const auto kernel = vec ? kv_write_kernel<true> : kv_write_kernel<false>;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(total, kDecodeThreads)), kDecodeThreads, 0, cx.stream(),
               kernel)
  (as_nv(k_cache), as_nv(v_cache), as_nv(k), as_nv(v), map, slot, start, n, kvd);
  CUDA_CHECK(cudaGetLastError());
}

void set_decode_state_cuda(cuda_context& cx, int32_t* state, int64_t pos, int64_t step) {
  KAITO_CHECK(pos >= 0 && pos < INT32_MAX && step >= 0 && step <= INT32_MAX,
              "set_decode_state_cuda: pos=", pos, " step=", step);
  KAITO_LAUNCH(1, 1, 0, cx.stream(), set_state_kernel)(state, int32_t(pos), int32_t(step));
  CUDA_CHECK(cudaGetLastError());
}

void advance_decode_state_cuda(cuda_context& cx, int32_t* state) {
  launch_pdl(cx, advance_state_kernel, dim3(1), dim3(1), 0, state);
  CUDA_CHECK(cudaGetLastError());
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito::gpu
