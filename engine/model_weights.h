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

// A HF model folder read one piece at a time: the safetensors files stay memory-mapped and each
// call converts only what it returns, so a loader can stream a model much larger than host memory
// in fp32 (a GPU loader holds one layer at a time). Tensors are F32, BF16 or F16 (converted to
// fp32); linears stored in the bitsandbytes 4-bit layout (`<module>.weight` U8 plus
// `.weight.quant_state.bitsandbytes__nf4`, see kernels/nf4.h) come back as NF4 parts.
// Errors: not_found / invalid_argument naming the tensor when a weight is missing or has the
// wrong shape. Copies share the mapped files; the const calls may run concurrently.
class model_reader {
 public:
  // Parses `<dir>/config.json` and maps `model.safetensors` (or the shards that
  // `model.safetensors.index.json` lists).
  static result<model_reader> open(const std::string& dir);

  const model_config& config() const { return config_; }
  result<std::vector<float>> embed() const;       // (V, C)
  result<std::vector<float>> final_norm() const;  // (C)
  // (V, C) lm_head.weight; empty when the config ties it to the embedding (transformers
  // tie_weights: the embedding wins even if a copy is stored).
  result<std::vector<float>> lm_head() const;
  // Layer i (0 <= i < num_layers): norms and the four linears, split modules concatenated.
  result<layer_weights> layer(int64_t i) const;

 private:
  struct source;
  model_config config_;
  std::shared_ptr<const source> src_;
};

// Loads the whole folder (model_reader's every piece) into fp32 host memory.
result<std::shared_ptr<model>> load_model(const std::string& dir);

// Replaces every decoder-layer linear weight (qkv, o, gate_up, down) by its NF4 quantization, one
// state per HF module (bitsandbytes blocks of 64; double quantization when `double_quant`), as
// transformers + bitsandbytes do for load_in_4bit. Embeddings, norms and lm_head stay fp32.
void nf4_quantize_linears(model* m, bool double_quant);

// Writes the model's tensors under their HF names to one safetensors file: fp32 tensors as F32,
// NF4 linears in the bitsandbytes checkpoint layout. (config.json is the caller's.)
status save_model_safetensors(const model& m, const std::string& path);

}  // namespace kaito::engine
