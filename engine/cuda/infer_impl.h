// gpu_generator::impl, the generator's inside (contract: engine/cuda/infer.h): the buffers
// create() allocates once and the work prefill and decode_step enqueue. Shared by infer.cu
// (allocation, the decode step and its CUDA graph, the public calls) and infer_layer.cu (one
// layer's prefill and decode, the head). Not part of the engine's interface.
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gemv_choice.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/infer.h"
#include "engine/cuda/infer_ops.h"
#include "engine/cuda/step_profile.h"
#include "kernels/cuda/cuda_context.h"

namespace kaito::gpu {

// Programmatic dependent launch (kernels/cuda/pdl.cuh) on cx for a scope; restores the setting.
class programmatic_scope {
 public:
  programmatic_scope(cuda_context& cx, bool on) : cx_(cx), was_(cx.programmatic_launch()) {
    cx_.set_programmatic_launch(on);
  }
  ~programmatic_scope() { cx_.set_programmatic_launch(was_); }
  programmatic_scope(const programmatic_scope&) = delete;
  programmatic_scope& operator=(const programmatic_scope&) = delete;

 private:
  cuda_context& cx_;
  bool was_;
};

struct gpu_generator::impl {
  cuda_context& cx;
  const gpu_model& m;
  infer_options opt;
  int64_t rows = 0;  // prompt rows the buffers hold (opt.prefill_rows, or max_batch * max_seq)
  std::vector<device_buffer> kc, vc;  // per layer (max_batch, max_seq, NKV, HS) bf16
  device_buffer x, h, tmp, qkv, q, k, v, att, gu, act, z, lse, last, logits, ids, gen, prompt;
  device_buffer state;              // int32 {pos, Tk, step} of the next decode step (infer_ops.h)
  device_buffer merge_counters;     // uint32 (max_batch, NH): attention_decode_cuda's, kept zero
  cudaGraphExec_t graph = nullptr;  // the captured decode step for graph_B sequences
  int64_t graph_B = 0;
  int64_t warm_B = 0;         // batch size of the last plain-launch step (warm-up before capture)
  bool graph_failed = false;  // capture failed once: stay with plain launches
  step_profile* prof = nullptr;     // gpu_generator::set_profile
  gemv_choice gemv;                 // the decode GEMV kernel (create: measured or from the options)
  nf4_gemm_direction prefill_gemm;  // prefill's NF4 base path (create: measured or the model's)
  bool capturing = false;           // no profile events inside a graph capture
  // decode: the down projection's LoRA term deferred into the next residual_norm (fused_decode)
  const gpu_lora_linear* pending_down = nullptr;
  // Where a decode step's rows go (infer_ops.h decode_rows) and their key counts:
  // gpu_generator's {state[0] for all rows, slot b} and state + 1; gpu_batch_decoder's position,
  // slot and key count per row. Both rotate with the model's decode tables (rope_cos/sin).
  // gpu_batch_decoder's paged cache (dec_rows.pages) also places its prefill chunks
  // (layer_prefill_slot: kv_cache_write_cuda, attention_forward_paged{_mma}_cuda).
  decode_rows dec_rows;
  const int32_t* dec_tk = nullptr;
  // gpu_batch_decoder's step: the key count its attention plans for (> 0; else max_seq).
  int64_t dec_tk_max = 0;

  impl(cuda_context& c, const gpu_model& mm, const infer_options& o) : cx(c), m(mm), opt(o) {}
  ~impl();
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  void mark(const char* name) {
    if (!capturing) profile_mark(prof, name);
  }
  float scale() const { return 1.0f / std::sqrt(float(m.shape.HS)); }
  // gen's row length: a token per position for gpu_generator; gpu_batch_decoder (paged) keeps
  // no tokens on the device, so its pick has one column.
  int64_t gen_ld() const { return opt.kv_block_size > 0 ? 1 : opt.max_seq; }
  // The decode kernels' Tcap: positions one sequence's cache rows span (the block table's width
  // when paged, kernels/attention.h kv_pages).
  int64_t tcap() const {
    return dec_rows.pages.table != nullptr ? dec_rows.pages.table_ld * dec_rows.pages.block_size
                                           : opt.max_seq;
  }

  // --- infer.cu ---
  // The KV cache and every activation buffer, named for the error that says which failed.
  status alloc();
  size_t bytes() const;
  // Everything one decode step enqueues (plain launches, or captured into `graph`).
  void enqueue_step(int64_t B);
  // The step's forward alone: embeddings of `ids`, every layer at the rows in dec_rows, the head
  // (logits and the greedy pick into ids); enqueue_step adds the state's advance.
  void enqueue_forward(int64_t B);
  // Captures enqueue_step(B) into `graph`; false (and plain launches from then on) on any failure.
  bool capture(int64_t B);
  // One decode step's work captured as a graph: enqueue_step(B) (advance) or enqueue_forward(B)
  // under programmatic launch as configured (gpu_batch_decoder); nullptr on any failure.
  cudaGraphExec_t capture_graph(int64_t B, bool advance);

  // --- infer_layer.cu ---
  // out (N, OC) = in (N, C) · Wᵀ (+ LoRA). decode: the fused GEMV in calls of <= 16 rows.
  void linear(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N, bool decode);
  // Whether the LoRA branch of a decode step runs as the one-kernel lora_decode.
  static bool decode_lora(const gpu_lora_linear& l, int64_t N, bool decode) {
    return decode && N <= 16 && l.r <= 64;
  }
  // Whether a decode step's LoRA term on `l` goes into the kernel after the base product
  // (infer_options::fused_decode).
  bool fuse_lora(const gpu_lora_linear& l, int64_t N, bool decode) const {
    return opt.lora && opt.fused_decode && decode_lora(l, N, decode);
  }
  // out (N, OC) = in (N, C) · Wᵀ, the base product alone.
  void base(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N, bool decode);
  // x += tmp over n elements.
  void residual(int64_t n);
  // h = rmsnorm(x) with `norm`, layer l's input: from layer 1 on, the previous layer's MLP output
  // (left in tmp by layer_tail) is first added to x in the same pass (residual_norm).
  void layer_input_norm(int64_t l, const bf16* norm, int64_t N);
  // x += tmp; h = rmsnorm(x) with `norm` (add_rmsnorm_forward_cuda), where tmp is the down
  // projection's base output and, when layer_tail deferred it (pending_down), its LoRA term is
  // added to tmp in the same kernel first (lora_decode_add_rmsnorm_cuda, input act).
  void residual_norm(const bf16* norm, int64_t N);
  // The second half of a layer, shared by prefill and decode: x += o(att); x += mlp(norm(x)).
  void layer_tail(const gpu_layer& ly, int64_t N, bool decode);
  // B prompts of T tokens at positions 0..T-1 (x holds their embeddings).
  void layer_prefill(int64_t l, int64_t B, int64_t T);
  // One token per sequence at the positions in dec_rows (x holds the B embeddings).
  void layer_decode(int64_t l, int64_t B);
  // n tokens of one sequence appended to cache slot `slot` of the paged cache (dec_rows.pages) at
  // positions start..start+n-1, rotated with tables cos/sin (x holds their embeddings): attention
  // over the slot's start + n keys.
  void layer_prefill_slot(int64_t l, int64_t slot, int64_t start, int64_t n, const float* cos,
                          const float* sin);
  // Final norm + lm_head over B rows of `rows_in` (B, C), greedy pick into ids and
  // gen[:, state[2]].
  void head(const bf16* rows_in, int64_t B);
  // lm_head over the B normalized rows in h, greedy pick into ids and gen[:, state[2]].
  void head_logits(int64_t B);
  // Final norm + lm_head over B <= opt.max_batch rows of `rows_in` into logits, no pick (prompt
  // logprobs: every prompt row's distribution).
  void head_rows(const bf16* rows_in, int64_t B);
  // Rows of `width` bytes: dst rows dpitch apart <- src rows spitch apart (stream-ordered).
  void copy2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
              int64_t height);
};

}  // namespace kaito::gpu
