// lora_adapter: the trainable LoRA weights attached to a model's frozen linears (PEFT LoraModel).
//
// A lora_module adapts one HF module ("model.layers.3.self_attn.qkv_proj") and is placed on one of
// the fused base projections of model_weights (see model_weights.h) as a row slice:
//   phi3 (fused):  qkv_proj -> qkv rows [0, QKV); o_proj; gate_up_proj -> gate_up [0, 2I);
//   down_proj llama/mistral/qwen2: q_proj / k_proj / v_proj -> qkv rows [0, NH*HS) / [NH*HS,
//   +NKV*HS) / ...;
//                  o_proj; gate_proj / up_proj -> gate_up [0, I) / [I, 2I); down_proj
// y[:, off:off+out] += s * dropout(x) Aᵀ Bᵀ  with s = alpha/r (alpha/sqrt(r) with rslora),
// per-module r and alpha from rank_pattern / alpha_pattern (PEFT get_pattern_key semantics). Target
// matching is PEFT's: a module matches a target name when its path equals it or ends with
// "." + target; "all-linear" selects every decoder linear; a plain string is a full-match regex.
//
// Value type; not thread-safe for concurrent mutation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/model_config.h"

namespace kaito::engine {

enum class lora_site { qkv, o, gate_up, down };

struct lora_config {
  int64_t r = 8;
  double alpha = 8.0;
  double dropout = 0.0;
  bool use_rslora = false;
  std::vector<std::string> target_modules;  // names, or {"all-linear"}
  std::string target_regex;                 // used instead when non-empty
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  std::vector<int64_t> layers_to_transform;  // empty = all layers
};

struct lora_module {
  std::string path;    // HF module path without prefix: "model.layers.0.self_attn.qkv_proj"
  std::string target;  // the module's own name: "qkv_proj"
  int64_t layer = 0;
  lora_site site = lora_site::qkv;
  int64_t row_offset = 0;  // first output row of the slice in the fused base projection
  int64_t in = 0, out = 0, r = 0;
  double alpha = 0.0;
  float scale = 0.0f;
  std::vector<float> A, B;    // (r, in), (out, r)
  std::vector<float> dA, dB;  // gradients (+=), zeroed by zero_grad
};

struct lora_adapter {
  lora_config config;
  std::vector<lora_module> modules;  // ordered by (layer, site, row_offset)

  void zero_grad();
  int64_t num_params() const;
  // nullptr when absent.
  lora_module* find(const std::string& path);
};

// Every decoder linear of `c` as (module path, target name, site, row offset, in, out).
struct linear_slot {
  std::string path, target;
  int64_t layer;
  lora_site site;
  int64_t row_offset, in, out;
};
std::vector<linear_slot> model_linear_slots(const model_config& c);

// Whether `path` (module path) is selected by the config's targets / layers_to_transform.
bool lora_targets(const lora_config& lc, const linear_slot& slot);

// The PEFT rank and alpha for one module path (rank_pattern / alpha_pattern, else r / alpha).
int64_t lora_rank_for(const lora_config& lc, const std::string& path);
double lora_alpha_for(const lora_config& lc, const std::string& path);

// The module for one slot: placement from the slot, rank/alpha/scale from the config; A, B and
// their gradients left empty (the caller initialises or loads them).
lora_module lora_module_for(const lora_config& lc, const linear_slot& slot);

// A fresh adapter: A kaiming-uniform from `seed` (per-module sub-streams), B zero (PEFT init).
// invalid_argument when no module matches (PEFT's "Target modules ... not found") or r <= 0.
result<lora_adapter> lora_create(const model_config& c, const lora_config& lc, uint64_t seed);

}  // namespace kaito::engine
