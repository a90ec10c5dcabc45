// gpu_shape_from_hf (contract: engine/cuda_hf/gpu_shape_from_hf.h).
#include "engine/cuda_hf/gpu_shape_from_hf.h"

#include <cmath>
#include <string>

#include "engine/transformer.h"
#include "kernels/attention.h"

namespace kaito::gpu {

namespace {

result<rope_params> rope_from_hf(const engine::model_config& c) {
  const engine::rope_config& r = c.rope;
  if (r.kind == engine::rope_type::linear)
    return invalid_argument("linear rope scaling is not on the GPU model", "rope_scaling.type");
  return engine::rope_params_of(c);
}

// Every decoder linear carries a LoRA of rank r and alpha lc.alpha.
status check_targets(const engine::model_config& c, const engine::lora_config& lc) {
  for (const engine::linear_slot& slot : engine::model_linear_slots(c)) {
    if (!engine::lora_targets(lc, slot))
      return invalid_argument(
          slot.path +
              " is not targeted: the GPU model adapts every decoder linear "
              "(q/k/v or qkv, o, gate/up or gate_up, down) of every layer",
          lc.layers_to_transform.empty() ? "target_modules" : "layers_to_transform");
    if (engine::lora_rank_for(lc, slot.path) != lc.r)
      return invalid_argument(slot.path + " gets rank " +
                                  std::to_string(engine::lora_rank_for(lc, slot.path)) +
                                  ": the GPU model holds one rank (r " + std::to_string(lc.r) + ")",
                              "rank_pattern");
    if (engine::lora_alpha_for(lc, slot.path) != lc.alpha)
      return invalid_argument(slot.path + " gets another lora_alpha: the GPU model holds one",
                              "alpha_pattern");
  }
  return {};
}

}  // namespace

result<gpu_model_shape> gpu_shape_from_hf(const engine::model_config& c,
                                          const engine::lora_config& lc, bool quantized_base) {
  const int64_t HS = c.head_dim;
  if (!attention_head_size(HS))
    return invalid_argument(
        "head_dim " + std::to_string(HS) + ": the GPU attention kernels take 16, 32, 64, 96 or 128",
        "head_dim");
  if (c.o_bias)
    return invalid_argument("o_proj's bias is not on the GPU model (q/k/v biases are)",
                            "attention_bias");
  for (size_t l = 1; l < c.layer_window.size(); ++l)
    if (c.layer_window[l] != c.layer_window[0])
      return invalid_argument("layers " + std::to_string(0) + " and " + std::to_string(l) +
                                  " have different sliding windows: the GPU model has one",
                              "layer_types");
  if (lc.r <= 0) return invalid_argument("LoRA rank must be positive", "r");
  KAITO_TRY(check_targets(c, lc));

  gpu_model_shape s;
  s.C = c.hidden_size;
  s.L = c.num_layers;
  s.NH = c.num_heads;
  s.NKV = c.num_kv_heads;
  s.HS = HS;
  s.I = c.intermediate_size;
  s.V = c.vocab_size;
  KAITO_ASSIGN_OR_RETURN(s.rope, rope_from_hf(c));
  s.rotary = c.rope.rotary_dim == HS ? 0 : c.rope.rotary_dim;
  s.rms_eps = float(c.rms_norm_eps);
  s.window = c.layer_window.empty() ? 0 : c.layer_window[0];
  s.lora_r = lc.r;
  s.lora_alpha = lc.use_rslora ? lc.alpha * std::sqrt(double(lc.r)) : lc.alpha;
  s.quantized_base = quantized_base;
  s.split_lora = !c.fused_qkv;
  s.qkv_bias = c.qkv_bias;
  status v = s.validate();
  if (!v.ok()) return v.with_context("config.json");
  return s;
}

}  // namespace kaito::gpu
