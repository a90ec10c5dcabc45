// Test-only: a Hugging Face Phi-3, Llama or Qwen2 fixture (bench/device/hf_fixture.py; the
// checked-in one is tests/data/hf-phi3-gqa-window-longrope) read into the GPU model's host form,
// for the CPU check of the reference composition (hf_fixture_cpu_test) and the GPU check of the
// model itself (hf_parity_test, run by bench/device/run.sh).
//
// Folder: base/model.safetensors (HF Phi3ForCausalLM, LlamaForCausalLM or Qwen2ForCausalLM names,
// F32 or BF16; Qwen2's q/k/v_proj.bias too), adapter/adapter_model.safetensors (PEFT names, LoRA
// on qkv_proj, o_proj, gate_up_proj, down_proj; Llama, Qwen2: q/k/v/o_proj, gate/up/down_proj),
// expected.safetensors (input_ids, labels, base_logits, lora_logits, loss, grad.<name>,
// after_adamw.<name>) and meta.safetensors (shapes as numbers: GPU hosts have no JSON library):
//   ints   I64 [C, L, NH, NKV, HS, I, V, window, lora_r, original_max, max_pos, rope kind
//              (0 default, 1 longrope, 2 llama3), B, T, arch (0 phi3, 1 llama, 2 qwen2), RD (the
//              rotary dims; fixtures made before partial rotary lack it: HS), tied (1:
//              tie_word_embeddings, lm_head is the embedding; absent: 0)]
//   floats F32 [rope_theta, rms_eps, lora_alpha, attention_factor]
//   short_factor, long_factor F32 (RD/2) when longrope; llama3 F32 [factor, low_freq_factor,
//   high_freq_factor] when llama3.
// A Llama or Qwen2 fixture becomes a shape with split_lora (Qwen2: and qkv_bias, the three
// biases concatenated): the base q/k/v (gate/up) rows concatenated into the fused linears, its LoRA
// modules, grads and AdamW results packed into the block form (gpu::lora_pack_blocks). Everything
// is by layer and lora_target (A then B), PEFT order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/cuda/gpu_model.h"

namespace kaito::testing {

struct hf_fixture {
  std::string arch;            // "phi3", "llama" or "qwen2" (shape.split_lora, qkv_bias)
  gpu::gpu_model_shape shape;  // quantized_base = false: the fixture's base is bf16-exact fp32
  gpu::host_model_weights weights;
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids;      // (B*T)
  std::vector<int32_t> targets;  // (B*T) shifted labels: targets[b, t] = labels[b, t + 1]
  std::vector<float> base_logits, lora_logits;  // (B*T, V)
  double loss = 0.0;
  // index l * 4 + t (gpu::lora_target)
  std::vector<std::vector<float>> grad_A, grad_B, after_A, after_B;
};

// not_found / invalid_argument naming the file and tensor when something is missing or has the
// wrong size.
result<hf_fixture> load_hf_fixture(const std::string& dir);

// max |got - ref| / max |ref| (the norm-relative error the parity tests bound); +inf on a size
// mismatch or a non-finite value.
double norm_rel_error(const std::vector<float>& ref, const std::vector<float>& got);

}  // namespace kaito::testing
