// gpu_model_from_hf: a Hugging Face model folder (config.json + safetensors, sharded or not) and
// a PEFT adapter onto the GPU, and the trained LoRA back out as a PEFT adapter.
//
// Loading streams: engine::model_reader maps the safetensors files and converts one layer at a
// time to fp32, which is rounded to bf16 (what transformers holds with torch_dtype=bfloat16) and
// uploaded; with quantized_base the four base linears are NF4-quantized with double quantization
// (bitsandbytes' load_in_4bit recipe, engine/cuda/gpu_model.h) on the device by default. Host
// memory peaks at about one layer plus the embedding in fp32, not the model.
// A bitsandbytes 4-bit checkpoint is dequantized on the host and quantized again: NF4 of NF4
// values gives the same codes and block absmax, only the double-quant step is redone.
// Llama/Mistral/Qwen2 keep q/k/v (gate/up) as one fused NF4 tensor: the same codes and block
// absmax as bitsandbytes' per-module quantization (the modules' sizes are multiples of 64), but one
// double-quant mean and nested blocks over the fused tensor instead of one per module, so the
// dequantized weights can differ from bitsandbytes' by the 8-bit absmax step.
//
// The adapter: the PEFT folder opts.adapter_dir (engine::load_peft_adapter: strict about modules
// and ranks), or a fresh one from opts.lora (engine::lora_create: A kaiming-uniform from
// opts.seed, B zero: PEFT's init). Either way it must fit the GPU model (gpu_shape_from_hf.h).
//
// Errors name the file and field or tensor (config.json "head_dim", "model.layers.3.mlp.up_proj
// .weight", adapter_config.json "target_modules"); nothing is left allocated on failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"

namespace kaito::gpu {

struct gpu_hf_options {
  int64_t max_T = 0;           // the longest sequence to train on or generate (rope table rows)
  bool quantized_base = true;  // QLoRA (NF4 + double quant); false: bf16 base (Kaito's lora)
  nf4_quantizer quantizer = nf4_quantizer::device;
  std::string adapter_dir;  // a PEFT adapter to start from; empty: a fresh one from `lora`
  // An adapter already in memory (e.g. engine/lora_combine.h's), used instead of adapter_dir
  // and `lora` when set; it must outlive the call.
  const engine::lora_adapter* adapter = nullptr;
  engine::lora_config lora;  // the fresh adapter's config (ignored with adapter_dir)
  uint64_t seed = 0;         // the fresh adapter's A init
};

struct gpu_hf_model {
  gpu_model model;
  engine::model_config config;
  engine::lora_config lora;  // the adapter's config (its lora_dropout is the trainer's)
};

result<gpu_hf_model> gpu_model_from_hf(cuda_context& cx, const std::string& model_dir,
                                       const gpu_hf_options& opts);

// The indices of the adapter's modules on layer l's lora_target t, in row order (q, k, v; gate,
// up): position j in the list is the module's block j in the model's form (lora_pack_blocks).
std::vector<size_t> target_modules(const engine::lora_adapter& a, int64_t l, int t);

// The model's PEFT modules (paths, placement, rank, alpha, scale) with A and B empty: what a
// checkpoint's adapter must match. invalid_argument when a decoder linear is not targeted.
result<engine::lora_adapter> gpu_model_adapter_layout(const gpu_hf_model& m);

// The model's LoRA as PEFT modules (fp32 masters; split targets unpacked into q, k, v / gate, up),
// ready for engine::save_peft_adapter. with_grads: dA, dB hold the gradients the last backward
// left (unpacked the same way); else zero. Synchronizes.
result<engine::lora_adapter> gpu_model_adapter(cuda_context& cx, const gpu_hf_model& m,
                                               bool with_grads = false);

// Saves gpu_model_adapter's result as a PEFT adapter folder (adapter_config.json +
// adapter_model.safetensors) that PeftModel.from_pretrained loads.
status gpu_model_save_adapter(cuda_context& cx, const gpu_hf_model& m, const std::string& dir,
                              const std::string& base_model_name_or_path = {});

}  // namespace kaito::gpu
