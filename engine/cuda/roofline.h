// roofline: the work of the benchmarked steps, so the benches can say what fraction of the GPU's
// peak a measured figure reaches (issue #6: "report what was reached, the roofline fraction").
// Host code only; the peaks themselves (datasheet TFLOP/s and TB/s) live in
// bench/device/model_report.py, next to the table that divides by them.
//
// FLOPs are MODEL flops (the MFU convention): the multiply-adds the math needs, 2 per MAC, each
// counted once. Recomputation (activation checkpointing, flash attention's backward) is not
// counted, so a step with checkpointing on has the same flops per token as one without. Per
// token of a training step on sequences of T tokens, with every base linear frozen:
//   base linears (qkv, o, gate_up, down):  forward 2*out*in, dX 2*out*in  (no dW: frozen)
//   LoRA, per module of rank r:            forward 2*r*(in + out), backward twice that
//                                          (dA, dB, dX and d(xA)); split_lora counts each PEFT
//                                          module's own rank, not the zero blocks of the fused B
//   causal attention (GQA, window):        forward 4*NH*HS per (query, visible key) pair, the
//                                          pairs averaged over the T queries; backward twice that
//   lm_head (frozen, V x C):               forward 2*V*C, dX 2*V*C
// Elementwise work (norms, rope, SwiGLU, residuals, cross-entropy, AdamW) is left out: it is
// memory-bound and below 1% of the flops at Phi-3-mini's shape.
// Prefill of T tokens per token: the forward terms above; the lm_head runs on the last row only
// (engine/cuda/infer.h), so it adds 2*V*C / T.
//
// BYTES are the least a decode step must move through HBM (weights cannot stay in cache between
// steps: 2 GB of NF4 against 50 MB of L2): every base linear as stored (NF4: packed codes
// out*in/2, qabsmax out*in/64 rounded up, nested absmax 4 bytes per 256 blocks; bf16 base: 2 bytes
// a weight; qkv bias 2*out), the bf16 LoRA working copies A (r, in) and B (out, r) as stored,
// the norms' weights, the lm_head (2*V*C) and, per sequence, its embedding row, its rope rows
// (cos and sin, fp32) and the KV cache: every visible key and value read (2 * NKV * HS bf16 per
// position per layer, the new one included) and the new one written. Activations (a few rows
// of C) are left out.
#pragma once

#include <cstdint>

#include "engine/cuda/gpu_model.h"

namespace kaito::gpu {

// Visible (query, key) pairs of causal attention over T positions with a sliding window
// (kernels/attention.h: a query at i sees keys j <= i with i - j < window; window 0 = all).
double attention_pairs(int64_t T, int64_t window);

// Model flops per token of one training step on sequences of T tokens (see the top).
double train_flops_per_token(const gpu_model_shape& s, int64_t T);
// Model flops per token of prefilling one sequence of T tokens into an empty cache.
double prefill_flops_per_token(const gpu_model_shape& s, int64_t T);

// The least bytes of one decode step at batch B whose sequences each hold `cached` tokens
// before the step (the step appends one more and attends over cached + 1).
double decode_step_bytes(const gpu_model_shape& s, int64_t B, int64_t cached);
// Per generated token, averaged over `steps` decode steps after a `prompt`-token prefill (the
// benches' decode rows: step i runs with prompt + i tokens cached).
double decode_bytes_per_token(const gpu_model_shape& s, int64_t B, int64_t prompt, int64_t steps);

}  // namespace kaito::gpu
