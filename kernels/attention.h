// Causal multi-head attention with grouped KV heads and an optional sliding window, eager math
// (HF eager_attention_forward with repeat_kv; softmax in fp32).
// For query token i of sequence b, head h, kv head g = h / (NH / NKV):
//   s[j] = scale * dot(q[b,i,h,:], k[b,j,g,:])   for allowed j, else -inf
//   allowed(i, j) = j <= i and (window == 0 or i - j < window)
//        (HF's sliding-window mask: a query sees `window` keys including itself; FA2 sees
//         window + 1, reference/qlora.md pitfall 9)
//   lse[b,h,i] = log(sum_j exp(s[j]))   (natural log, computed with the row max subtracted)
//   p[j] = exp(s[j] - lse[b,h,i]),   out[b,i,h,:] = sum_j p[j] * v[b,j,g,:]
//   scale is 1/sqrt(HS) for every supported model (HF head_dim**-0.5), passed explicitly.
// Shapes (legend: B, T, NH query heads, NKV kv heads with NH % NKV == 0, HS head dim):
//   q, dq, out, dout: (B, T, NH, HS); k, v, dk, dv: (B, T, NKV, HS); lse: (B, NH, T) fp32.
//   Row-major, HS contiguous (the layout a (N, NH*HS) projection output already has).
// Forward saves lse; backward recomputes p from q, k and lse (flash-attention style).
// Backward, with dp[j] = dot(dout[i], v[j]), D_i = sum_j p[j] dp[j] (= dot(dout[i], out[i]),
// which a flash-style twin may use instead), ds[j] = p[j] * (dp[j] - D_i):
//   dq[i] = scale * sum_j ds[j] * k[j]                            overwritten (=)
//   dk[j] = scale * sum over (i, h in group) ds[j] * q[i]         overwritten (=)
//   dv[j] = sum over (i, h in group) p[j] * dout[i]               overwritten (=)
// CPU twin: fp32 data; q·kᵀ, p·v and the backward products through sgemm_cpu (fp32, OpenBLAS),
// softmax and its backward in plain loops with fp64 sums.
// Masked probabilities are exact zeros multiplied through those GEMMs, so k and v rows must be
// finite even where masked (true of any projection output).
// CUDA twin: bf16 q/k/v/out, fp32 lse and softmax math.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void attention_forward_cpu(float* out, float* lse, const float* q, const float* k, const float* v,
                           int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, float scale,
                           int64_t window);
void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* out,
                            const float* lse, const float* q, const float* k, const float* v,
                            int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, float scale,
                            int64_t window);

// Inference with a KV cache (prefill of a continuation, or decode with Tq = 1): the Tq queries
// are the LAST Tq of Tk tokens (query i sits at position Tk - Tq + i) and attend causally, with
// the same window rule, to keys 0..Tk-1 of k_cache/v_cache: (B, Tcap, NKV, HS), Tq <= Tk <= Tcap,
// rows Tk..Tcap-1 never read. q, out: (B, Tq, NH, HS); lse (B, NH, Tq) or nullptr. The same math
// as attention_forward_cpu's last Tq rows (equal up to BLAS blocking). CUDA twin:
// attention_forward_cached_cuda (kernels/cuda/attention_decode.cu), flash-decoding: the keys of
// each query row are split across blocks (so batch 1 with a long cache fills the GPU) and the
// partial softmaxes are merged; bf16 q/out/cache, fp32 math, lse optional (nullptr). HS must be
// an attention_head_size; q, k_cache, v_cache 16-byte aligned; B * Tq <= 65535.
void attention_forward_cached_cpu(float* out, float* lse, const float* q, const float* k_cache,
                                  const float* v_cache, int64_t B, int64_t Tq, int64_t Tk,
                                  int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS, float scale,
                                  int64_t window);

// A KV cache's layout, for the decode kernels (attention_decode_rows_cuda,
// attention_forward_paged_cuda) and the decoder's cache writers (engine/cuda/infer_ops.h):
//   table null: `slots` contiguous sequences (slots, Tcap, NKV, HS); position t of slot s is row
//     s * Tcap + t;
//   paged (vLLM's PagedAttention layout): the cache is a pool of `blocks` blocks of block_size
//     positions, (blocks * block_size, NKV, HS), and position t of slot s is row
//     table[s * table_ld + t / block_size] * block_size + t % block_size; table (slots, table_ld)
//     int32 on the device, read by the kernels (so a CUDA graph replays any assignment), each id
//     clamped into [0, blocks). A slot then holds Tcap = table_ld * block_size positions at most,
//     and its blocks need not be adjacent or in order.
struct kv_pages {
  const int32_t* table = nullptr;
  int64_t block_size = 0;
  int64_t table_ld = 0;  // block ids per slot
  int64_t blocks = 0;    // in the pool
};

// The head sizes the SIMT CUDA attention (attention_{forward,backward,forward_cached}_cuda,
// attention_decode_cuda) is compiled for: every head size of a supported checkpoint (Phi-3 96,
// Llama/Mistral/Qwen2 64 or 128) and 16, the golden test fixtures' (../shared/fixtures).
// kernels/cuda/head_size.cuh turns one into the kernels' template argument.
constexpr bool attention_head_size(int64_t HS) {
  return HS == 16 || HS == 32 || HS == 64 || HS == 96 || HS == 128;
}

// The head sizes the tensor-core attention (attention_{forward,backward}_mma_cuda) takes; the
// engine falls back to the SIMT kernels for the others.
constexpr bool attention_mma_head_size(int64_t HS) {
  return HS == 64 || HS == 96 || HS == 128;
}

#if KAITO_WITH_CUDA
void attention_forward_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q, const bf16* k,
                            const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                            int64_t HS, float scale, int64_t window);
// The same contract as attention_forward_cuda (same out and lse, so attention_backward_cuda takes
// them unchanged) on the tensor cores (kernels/cuda/attention_mma.cu: FA2-style mma.sync, p
// rounded to bf16 for p·v). HS must be 64, 96 or 128; q, k, v 16-byte aligned, out and lse 4-byte
// aligned; B, NH <= 65535. A failed precondition records invalid_argument in cx.
void attention_forward_mma_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                const bf16* k, const bf16* v, int64_t B, int64_t T, int64_t NH,
                                int64_t NKV, int64_t HS, float scale, int64_t window);
void attention_backward_cuda(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout,
                             const bf16* out, const float* lse, const bf16* q, const bf16* k,
                             const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                             int64_t HS, float scale, int64_t window);
// The same contract as attention_backward_cuda (dq, dk, dv overwritten; dk, dv summed over each
// kv group's query heads) on the tensor cores (kernels/cuda/attention_mma_bwd.cu: FA2-style
// mma.sync, a dk/dv pass per key tile and a dq pass per query tile, deterministic, no atomics; p
// and ds rounded to bf16 as mma operands). HS must be 64, 96 or 128; q, k, v, dout 16-byte
// aligned, lse, dq, dk, dv 4-byte aligned; B, NH <= 65535. A failed precondition records
// invalid_argument in cx.
void attention_backward_mma_cuda(cuda_context& cx, bf16* dq, bf16* dk, bf16* dv, const bf16* dout,
                                 const bf16* out, const float* lse, const bf16* q, const bf16* k,
                                 const bf16* v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                                 int64_t HS, float scale, int64_t window);
void attention_forward_cached_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                   const bf16* k_cache, const bf16* v_cache, int64_t B, int64_t Tq,
                                   int64_t Tk, int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS,
                                   float scale, int64_t window);
// The same for one decode step (Tq = 1) whose key count lives on the device: Tk = *d_Tk (int32,
// read by the kernels, clamped into [1, Tk_max]), so a CUDA graph of a decode step replays at
// every position. Splits are planned for Tk_max <= Tcap keys. No lse. CPU twin: as above.
// merge_counters: nullptr, or B * NH zeroed uint32 the call leaves zeroed (one per row; no two
// launches in flight may share them): the split blocks then merge the partial softmaxes
// themselves (the last block of a row to finish), one launch instead of two, the same bits.
void attention_decode_cuda(cuda_context& cx, bf16* out, const bf16* q, const bf16* k_cache,
                           const bf16* v_cache, const int32_t* d_Tk, int64_t B, int64_t Tk_max,
                           int64_t Tcap, int64_t NH, int64_t NKV, int64_t HS, float scale,
                           int64_t window, uint32_t* merge_counters = nullptr);
// attention_decode_cuda for sequences at their own positions in their own cache slots
// (continuous batching): k_cache, v_cache (slots, Tcap, NKV, HS); query row b attends as the last
// of d_Tk[b] keys (int32, clamped into [1, Tk_max]) of cache slot d_slot[b] (int32, clamped into
// [0, slots)). d_Tk and d_slot hold B values each, read by the kernels, so one CUDA graph replays
// any positions and slot assignment. CPU twin: attention_forward_cached_cpu on each row's slot
// with Tq = 1, Tk = d_Tk[b]. slots in [1, 65535].
// pages: the cache's layout (kv_pages above; default contiguous). Paged, Tcap must be
// pages.table_ld * pages.block_size and d_slot[b] names a row of the block table.
void attention_decode_rows_cuda(cuda_context& cx, bf16* out, const bf16* q, const bf16* k_cache,
                                const bf16* v_cache, const int32_t* d_Tk, const int32_t* d_slot,
                                int64_t B, int64_t slots, int64_t Tk_max, int64_t Tcap, int64_t NH,
                                int64_t NKV, int64_t HS, float scale, int64_t window,
                                uint32_t* merge_counters = nullptr, const kv_pages& pages = {});
// attention_forward_cached_cuda for one sequence (B = 1) of a paged cache: its Tq queries attend
// to keys 0..Tk-1 of slot `slot` (a host value in [0, slots)) of `pages` (table non-null),
// Tk <= table_ld * block_size. A prefill chunk after the first, in a paged cache. CPU twin:
// attention_forward_cached_cpu over the slot's rows gathered in order.
void attention_forward_paged_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                  const bf16* k_cache, const bf16* v_cache, const kv_pages& pages,
                                  int64_t slot, int64_t slots, int64_t Tq, int64_t Tk, int64_t NH,
                                  int64_t NKV, int64_t HS, float scale, int64_t window);
// attention_forward_paged_cuda's contract on the tensor cores (kernels/cuda/attention_mma.cu,
// attention_forward_mma_cuda's kernel reading K/V tiles through the block table; p rounded to
// bf16 for p·v): one block per 64 queries and head, so it suits chunks of many queries (the SIMT
// kernel splits the keys of each query across blocks, which suits a few). HS 64, 96 or 128; q,
// k_cache, v_cache 16-byte aligned; out and lse (required) 4-byte aligned; NH <= 65535.
void attention_forward_paged_mma_cuda(cuda_context& cx, bf16* out, float* lse, const bf16* q,
                                      const bf16* k_cache, const bf16* v_cache,
                                      const kv_pages& pages, int64_t slot, int64_t slots,
                                      int64_t Tq, int64_t Tk, int64_t NH, int64_t NKV, int64_t HS,
                                      float scale, int64_t window);
#endif

}  // namespace kaito
