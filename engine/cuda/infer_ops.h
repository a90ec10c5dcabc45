// Small kernels of GPU inference (used by engine/cuda/infer.cu), each a launcher on cx's stream.
//
// Decode state: int32 state[3] in device memory = {pos, Tk, step} of the next decode step: the
// position its tokens are fed at, the key count after appending them (pos + 1), and the column of
// `gen` its greedy tokens go to. The decode kernels read it at run time, so one CUDA graph of a
// decode step replays at every position; advance_decode_state_cuda moves it one token on.
// Shapes (legend: B sequences, NH / NKV heads of HS, RD rotary dims of a head (HS unless partial
// rotary), Tcap cache rows, V vocab), row-major:
//   qkv (B, (NH + 2 NKV) HS) = [q | k | v] heads; q (B, NH, HS); k_cache, v_cache
//   (B, Tcap, NKV, HS); cos, sin (max_T, RD) fp32 rope tables by position; logits (B, V) bf16;
//   ids (B) int32; gen (B, gen_ld) int32.
#pragma once

#include <cstdint>

#include "kernels/attention.h"
#include "kernels/dtype.h"

namespace kaito::gpu {

// ids[b] = gen[b, state[2]] = argmax_v logits[b, v] (=): the lowest index among equal maxima
// (torch.argmax), NaN never wins, an all -inf/NaN row gives 0. V <= INT32_MAX.
void argmax_rows_cuda(cuda_context& cx, int32_t* ids, int32_t* gen, int64_t gen_ld,
                      const int32_t* state, const bf16* logits, int64_t B, int64_t V);

// Where the rows of a decode step go, read on the device: row b is fed at position
// p_b = pos[b * pos_stride] (pos_stride 0: one position for all, e.g. the state above; 1: a
// position per row, continuous batching) of cache slot s_b = slot[b] (slot null: s_b = b; else
// clamped into [0, slots)). The caches then hold `slots` sequences: (slots, Tcap, NKV, HS), or,
// with pages.table set, a paged pool where slot s_b's position p_b is the row kernels/attention.h
// kv_pages gives (Tcap = pages.table_ld * pages.block_size).
struct decode_rows {
  const int32_t* pos = nullptr;
  int64_t pos_stride = 0;
  const int32_t* slot = nullptr;
  int64_t slots = 0;
  kv_pages pages;
};

// One decode step's qkv rows: q[b] = rope(q, p_b) (=), k_cache[s_b, p_b] = rope(k, p_b) and
// v_cache[s_b, p_b] = v (=) (the cache row of (s_b, p_b) as rows.pages lays it out); rope as
// rope_forward_cuda (kernels/rope.h) with table row p_b.
// Precondition (the caller's): 0 <= p_b < min(Tcap, table rows).
void decode_qkv_cuda(cuda_context& cx, bf16* q, bf16* k_cache, bf16* v_cache, const bf16* qkv,
                     const float* cos, const float* sin, const decode_rows& rows, int64_t B,
                     int64_t NH, int64_t NKV, int64_t HS, int64_t RD, int64_t Tcap);

// LoRA on the qkv linear fused in: qkv (B, (NH + 2 NKV) HS) += scale * (h · Aᵀ) · Blᵀ first
// (h (B, IN), A (R, IN), Bl ((NH + 2 NKV) HS, R); stored back into qkv), then decode_qkv_cuda:
// bit for bit lora_decode_cuda (kernels/lora.h) followed by decode_qkv_cuda, one launch fewer.
// B <= 16, R <= 64 (lora_decode_cuda's limits).
void decode_qkv_lora_cuda(cuda_context& cx, bf16* q, bf16* k_cache, bf16* v_cache, bf16* qkv,
                          const float* cos, const float* sin, const decode_rows& rows, int64_t B,
                          int64_t NH, int64_t NKV, int64_t HS, int64_t RD, int64_t Tcap,
                          const bf16* h, const bf16* A, const bf16* Bl, int64_t IN, int64_t R,
                          float scale);

// A prefill chunk's keys and values into slot `slot` of a paged cache: for t < n,
// k_cache[row(slot, start + t)] = k[t] and v_cache[...] = v[t] (=), rows of kvd = NKV * HS bf16,
// row() as kv_pages lays it out (pages.table non-null, holding the slot's blocks for positions up
// to start + n). k, v: (n, kvd) row-major. Rows of other positions are not touched.
void kv_cache_write_cuda(cuda_context& cx, bf16* k_cache, bf16* v_cache, const bf16* k,
                         const bf16* v, const kv_pages& pages, int64_t slot, int64_t start,
                         int64_t n, int64_t kvd);

// state = {pos, pos + 1, step} (=).
void set_decode_state_cuda(cuda_context& cx, int32_t* state, int64_t pos, int64_t step);
// state = {pos + 1, Tk + 1, step + 1}.
void advance_decode_state_cuda(cuda_context& cx, int32_t* state);

}  // namespace kaito::gpu
