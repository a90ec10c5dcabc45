// model_config: the subset of a Hugging Face `config.json` the engine needs, for the decoder-only
// families phi3, llama, mistral and qwen2.
//
// Reads both spellings of RoPE settings: the transformers<=4.x `rope_theta` + `rope_scaling`
// ({"type"|"rope_type": "default"|"linear"|"longrope"|"su"|"llama3", ...}) and the transformers 5
// `rope_parameters` object (rope_theta, rope_type, partial_rotary_factor, factors inside).
// `original_max_position_embeddings` may sit at the top level (Phi-3) or inside the rope object.
// Errors are invalid_argument with `where` = the JSON field path ("rope_scaling.long_factor").
//
// Value type; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

enum class model_arch { phi3, llama, mistral, qwen2 };
const char* model_arch_name(model_arch a);

enum class rope_type { standard, linear, longrope, llama3 };

struct rope_config {
  rope_type kind = rope_type::standard;
  double theta = 10000.0;
  double partial_rotary_factor = 1.0;
  int64_t rotary_dim = 0;  // int(head_dim * partial_rotary_factor), even
  // linear and llama3: the context-extension factor.
  double factor = 1.0;
  // longrope: one factor per rotary frequency (rotary_dim / 2 each); the short list applies while
  // the sequence length <= original_max_position_embeddings, the long list beyond it.
  std::vector<float> short_factor, long_factor;
  // longrope: cos/sin multiplier, sqrt(1 + ln(max_pos/orig)/ln(orig)) unless given explicitly.
  double attention_factor = 1.0;
  // llama3 (and longrope's switch point).
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

struct model_config {
  model_arch arch = model_arch::llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // C
  int64_t intermediate_size = 0;  // I
  int64_t num_layers = 0;
  int64_t num_heads = 0;     // NH
  int64_t num_kv_heads = 0;  // NKV; NH % NKV == 0
  int64_t head_dim = 0;      // HS
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  rope_config rope;
  // Per-layer sliding window in keys (0 = full causal attention). HF eager masks keys with
  // kv_idx <= q_idx - window, so each query sees itself plus window-1 earlier keys.
  std::vector<int64_t> layer_window;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;   // q/k/v biases (qwen2 always; llama/mistral with attention_bias)
  bool o_bias = false;     // o_proj bias (llama/mistral with attention_bias)
  bool fused_qkv = false;  // phi3: qkv_proj and gate_up_proj
  int64_t bos_token_id = -1, pad_token_id = -1;
  std::vector<int64_t> eos_token_ids;
};

// Parses config.json text. invalid_argument (with the field path) on malformed or unsupported
// content: unknown model_type, missing sizes, heads not dividing, wrong factor list lengths, ...
result<model_config> parse_model_config(std::string_view json_text);
// Reads and parses `<dir>/config.json` (io_error when unreadable).
result<model_config> load_model_config(const std::string& dir);

}  // namespace kaito::engine
