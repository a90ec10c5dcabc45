// gpu_shape_from_hf: the GPU model's shape (engine/cuda/gpu_model.h) for a Hugging Face model
// config and a PEFT LoRA config, or the reason the GPU model cannot hold it.
//
// Mapping: phi3 -> fused qkv / gate_up LoRA modules; llama, mistral -> split_lora (PEFT's q, k, v
// and gate, up modules as block-diagonal LoRAs); qwen2 -> split_lora + qkv_bias. Rope: default,
// longrope (su) and llama3 as config.json gives them; rms_norm_eps; one sliding window for every
// layer (0 = none). LoRA: r, and lora_alpha such that the shape's scale alpha / r is PEFT's
// (alpha / sqrt(r) under use_rslora, so the shape holds alpha * sqrt(r) then).
//
// Refused, with invalid_argument naming the field of config.json or adapter_config.json:
//   head_dim not 16, 32, 64, 96 or 128 (the attention kernels' sizes);
//   rope type linear;
//   attention_bias on llama/mistral (o_proj's bias is not on the GPU model);
//   sliding windows that differ between layers (layer_types, qwen2's max_window_layers);
//   target_modules / layers_to_transform that leave a decoder linear without LoRA (the GPU
//   model adapts all of them), rank_pattern / alpha_pattern that change a module's r or alpha.
// tie_word_embeddings is fine: the loader gives lm_head the embedding's values.
#pragma once

#include "base/status.h"
#include "engine/cuda/gpu_model.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"

namespace kaito::gpu {

result<gpu_model_shape> gpu_shape_from_hf(const engine::model_config& c,
                                          const engine::lora_config& lc, bool quantized_base);

}  // namespace kaito::gpu
