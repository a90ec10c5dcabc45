// model_weights: the frozen base weights of a decoder-only model, loaded from a Hugging Face model
// folder (config.json + model.safetensors, or model.safetensors.index.json + shards) into fp32.
//
// Layout per layer (legend: C hidden, I intermediate, NH/NKV heads, HS head dim,
// QKV = (NH + 2*NKV)*HS), PyTorch nn.Linear storage (out, in), row-major:
//   qkv:     (QKV, C)  rows [0, NH*HS) = Q, then NKV*HS rows of K, then V. Phi-3 stores it fused as
//            self_attn.qkv_proj; Llama/Mistral/Qwen2's q_proj/k_proj/v_proj are concatenated here.
//   qkv_bias (QKV) when the config has q/k/v biases (Qwen2).
//   o:       (C, NH*HS), o_bias (C) with attention_bias on llama/mistral.
//   gate_up: (2I, C)   rows [0, I) = gate, [I, 2I) = up (Phi-3 gate_up_proj; else gate_proj ++
//   up_proj). down:    (C, I).
// The embedding is (V, C); lm_head (V, C) aliases the embedding when tie_word_embeddings.
// A linear weight may instead hold an NF4 quant state (nf4_quantize_linears), dequantized on use.
//
// Thread-safety: immutable after load; concurrent forwards may share one model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/model_config.h"
#include "kernels/nf4.h"

namespace kaito::engine {

// One row block of a quantized linear: the bitsandbytes state of one HF module.
struct nf4_part {
  int64_t row_offset = 0;
  std::shared_ptr<const nf4_quant_state> state;
};

// One frozen linear layer: fp32 weights, or NF4 (then `w` is empty). A fused projection keeps the
// HF modules it concatenates (`parts`, `part_rows`, in row order), so it can be quantized and saved
// module by module exactly as bitsandbytes does (per-tensor blocks, absmax mean, nested blocks).
struct linear_weight {
  int64_t out = 0, in = 0;
  std::vector<float> w;            // (out, in) fp32, empty when quantized
  std::vector<float> bias;         // (out) or empty
  std::vector<std::string> parts;  // HF module paths: "model.layers.0.self_attn.q_proj", ...
  std::vector<int64_t> part_rows;  // rows of each part
  std::vector<nf4_part> nf4;       // one per part when quantized

  bool quantized() const { return !nf4.empty(); }
  // fp32 (out, in) weights: `w` itself, or the NF4 dequantization written into `scratch`.
  const float* materialize(std::vector<float>& scratch) const;
  const float* bias_or_null() const { return bias.empty() ? nullptr : bias.data(); }
};

struct layer_weights {
  std::vector<float> input_norm;  // (C)
  std::vector<float> post_norm;   // (C)
  linear_weight qkv, o, gate_up, down;
};

struct model_weights {
  std::vector<float> embed;        // (V, C)
  std::vector<float> lm_head_own;  // (V, C), empty when tied
  std::vector<float> final_norm;   // (C)
  std::vector<layer_weights> layers;
  const float* lm_head() const { return lm_head_own.empty() ? embed.data() : lm_head_own.data(); }
};

struct model {
  model_config config;
  model_weights weights;
};

// Loads `<dir>/config.json` and its safetensors (F32, BF16 or F16 tensors, converted to fp32).
// Linears stored in the bitsandbytes 4-bit layout (`<module>.weight` U8 plus
// `.weight.quant_state.bitsandbytes__nf4`, see kernels/nf4.h) load as NF4 parts.
// not_found / invalid_argument naming the tensor when a weight is missing or has the wrong shape.
result<std::shared_ptr<model>> load_model(const std::string& dir);

// Replaces every decoder-layer linear weight (qkv, o, gate_up, down) by its NF4 quantization, one
// state per HF module (bitsandbytes blocks of 64; double quantization when `double_quant`), as
// transformers + bitsandbytes do for load_in_4bit. Embeddings, norms and lm_head stay fp32.
void nf4_quantize_linears(model* m, bool double_quant);

// Writes the model's tensors under their HF names to one safetensors file: fp32 tensors as F32,
// NF4 linears in the bitsandbytes checkpoint layout. (config.json is the caller's.)
status save_model_safetensors(const model& m, const std::string& path);

}  // namespace kaito::engine
