// transformer: fp32 forward to logits (+ loss) and backward to LoRA gradients for the decoder-only
// models of model_config (HF Phi3ForCausalLM, LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM; eager attention), with optional LoRA adapters (PEFT semantics).
//
// defines: model_forward (transformer.cpp), model_backward (transformer_backward.cpp).
//
// Per layer (pre-norm, HF *DecoderLayer):
//   xn1 = rmsnorm(x, input_layernorm);  qkv = xn1 Wqkvᵀ (+bias) (+LoRA slices)
//   q, k = rope(q, k);  att = causal_attention(q, k, v; window);  h = x + (att Woᵀ (+LoRA))
//   xn2 = rmsnorm(h, post_attention_layernorm);  gu = xn2 Wguᵀ (+LoRA);  act = silu(gate) * up
//   out = h + (act Wdownᵀ (+LoRA))
// Head: logits = rmsnorm(x, norm) lm_headᵀ. Loss (HF ForCausalLMLoss): mean cross-entropy of
// logits[b, t] against labels[b, t+1] over labels != -100.
// Backward: gradients flow to the LoRA A and B only (accumulated, +=); dX flows through the frozen
// (possibly NF4-dequantized) base weights; norms, embeddings and lm_head get no gradient.
//
// Shapes: legend of model_weights.h; N = B*T tokens. Thread-safety: the model is read-only; each
// forward_state belongs to one caller.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "kernels/rope.h"

namespace kaito::engine {

struct batch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids;     // (B, T) token ids in [0, vocab)
  std::vector<int32_t> labels;  // (B, T), -100 = ignored; empty: no loss
  // (B, T) position ids; empty: 0..T-1 in every row. Only RoPE reads them: attention stays causal
  // over the whole row, so documents packed into one row are not masked from each other.
  std::vector<int32_t> pos;
};

struct forward_options {
  bool training = false;      // LoRA dropout active (p from the adapter config)
  uint64_t dropout_seed = 0;  // per-step seed; per-module masks derive from it
};

struct layer_acts {
  std::vector<float> x;           // (N, C) layer input
  std::vector<float> rstd1, xn1;  // (N), (N, C)
  std::vector<float> q, k, v;     // (N, NH*HS), (N, NKV*HS) x2, after RoPE
  std::vector<float> att, lse;    // (N, NH*HS), (B, NH, T)
  std::vector<float> h;           // (N, C) after the attention residual
  std::vector<float> rstd2, xn2;  // (N), (N, C)
  std::vector<float> gu;          // (N, 2I) gate | up
  std::vector<float> act;         // (N, I)
};

struct lora_acts {
  std::vector<float> xd, z;  // (N, in), (N, r); xd empty when p == 0 (it would equal x)
  uint64_t seed = 0;         // dropout mask stream
  float p = 0.0f;            // dropout probability the forward used
};

// model_backward's work buffers. They live with the forward state so that a training loop that
// reuses one forward_state allocates (and page-faults) nothing after its first step; they are
// scratch, not part of the state's value, hence `mutable` below.
struct backward_buffers {
  std::vector<float> dlogits;                 // (N, V)
  std::vector<float> dxn, dx, dh, dpart;      // (N, C)
  std::vector<float> dact, dgu;               // (N, I), (N, 2I)
  std::vector<float> datt, dq, dk, dv, dqkv;  // (N, NH*HS), ..., (N, QKV)
};

struct forward_state {
  int64_t B = 0, T = 0;
  std::vector<float> cos, sin;  // (N, rotary_dim)
  std::vector<layer_acts> layers;
  std::vector<lora_acts> lora;  // one per adapter module
  std::vector<float> x_final, rstd_f, xn_f;
  std::vector<float> logits;  // (N, V)
  // Loss (when the batch has labels).
  std::vector<int32_t> targets;  // (N) shifted labels
  std::vector<float> losses, lse_ce;
  int64_t count = 0;              // targets != -100
  double loss = 0.0;              // mean over count (0 when count == 0)
  mutable backward_buffers work;  // model_backward's scratch (see backward_buffers)
};

// Runs the forward pass. invalid_argument for ids out of range, sizes that do not match, or
// positions out of [0, max_position_embeddings). Partial rotary (partial_rotary_factor < 1,
// Phi-4-mini) rotates the first rotary_dim dims of each head and passes the rest through.
// `lora` may be nullptr (base model). `st` is overwritten.
status model_forward(const model& m, const lora_adapter* lora, const batch& b,
                     const forward_options& opt, forward_state* st);

// Accumulates LoRA gradients (dA, dB +=) of `loss_scale * sum(losses) / count` (loss_scale = 1:
// the gradient of st.loss). `st` must come from model_forward with the same model, adapter and
// batch (with labels). failed_precondition otherwise.
status model_backward(const model& m, lora_adapter* lora, const batch& b, const forward_state& st,
                      double loss_scale = 1.0);

// The kernels' rope parameters (kernels/rope.h) for the config's rope: default, longrope (factors,
// attention factor) or llama3, head_dim = the rotary dims (rope.rotary_dim). Linear scaling maps to
// default: its inv_freq / factor is the caller's (rope_tables does it; the GPU model refuses it).
kaito::rope_params rope_params_of(const model_config& c);

// RoPE cos/sin tables (N, rotary_dim) for positions `pos` of a forward whose longest sequence is
// `seq_len` tokens (longrope picks its short or long factors from seq_len, as transformers'
// longrope_frequency_update does from max(position_ids) + 1).
status rope_tables(const model_config& c, const std::vector<int32_t>& pos, int64_t seq_len,
                   std::vector<float>* cos, std::vector<float>* sin);

// Helpers shared by forward and backward (transformer_lora.cpp).
// y (N, ld) += LoRA outputs of every module on (layer, site), saving acts[idx].
void lora_site_forward(const lora_adapter& a, int64_t layer, lora_site site, const float* x,
                       int64_t N, float* y, int64_t ld, const forward_options& opt,
                       std::vector<lora_acts>& acts);
// dx (N, in) += LoRA input gradients; dA, dB += for every module on (layer, site); dy is (N, ld);
// x is the site's forward input (read in place of xd when the forward had no dropout); dx may be
// nullptr (no input gradient wanted).
void lora_site_backward(lora_adapter& a, int64_t layer, lora_site site, const float* x,
                        const float* dy, int64_t N, int64_t ld, float* dx,
                        const std::vector<lora_acts>& acts);

}  // namespace kaito::engine
