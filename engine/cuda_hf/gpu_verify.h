// gpu_verify: the GPU engine against a golden fixture folder made with HF transformers + PEFT
// (engine/golden_fixture.h; `kaito verify --device cuda`): what engine/verify.h checks for the
// CPU engine, run through the GPU path a user's training takes: gpu_model_from_hf (the base rounded
// to bf16 as torch_dtype=bfloat16 holds it, not quantized: Kaito's `method: lora`; the fixture's
// PEFT adapter) and one gpu_trainer step over the fixture's batch (no dropout, no clipping, the
// README's AdamW settings).
//
// Quantities (max |ours - ref| / max |ref| over the tensor) and tolerances. HF's numbers are fp32
// math (on fp32 weights in ../shared/fixtures); the GPU rounds every weight to bf16 and keeps
// activations in bf16 with fp32 accumulation, so these are bf16 bounds (issue 6: relative error <
// 1e-2 per kernel; composed over the layers, a model's outputs move further):
//   lora_logits                    3e-2  every row, (B*S, V)
//   loss                           5e-3
//   grad.<peft name>               5e-2  dA and dB of every PEFT module after the backward
//   prefill: last-row lora_logits  3e-2  inference (gpu_generator) with the adapter as loaded,
//   prefill of S-1: last-row ...   3e-2    each sequence's last row against HF's
//   decode step vs prefill of the  2e-2  one greedy decode step (the decode kernels: fused GEMV,
//     same tokens                          split-key attention, CUDA graph) against a prefill of
//                                          the same S tokens (GPU against GPU: HF has no row for
//                                          the picked token)
//   after_adamw.<name>             1e-6  the fp32 masters after the GPU's AdamW step (fused
//                                          multi-tensor kernel, torch's settings from the README)
//                                          fed the fixture's own gradients, as engine/verify.h
//                                          checks the CPU's: fed the GPU's bf16-level gradients, a
//                                          first step is ill-conditioned wherever |g| is small
//                                          (lr * g / (|g| + eps)), and the gradients have their
//                                          own rows
//   base_logits                    3e-2  the same batch with every LoRA B zeroed (the base alone)
// With opts.nf4 (QLoRA, Kaito's default method) the base is NF4 with double quantization on the
// GPU, and the reference is no longer HF's fp32 numbers (NF4's error is far above bf16's) but the
// CPU engine on the same batch with the same NF4 base: its weights rounded to bf16 first, as the
// GPU holds them, then engine::nf4_quantize_linears (the GPU's codes and absmax, byte for byte
// for Phi-3's fused linears; for Llama's fused q/k/v and gate/up one double-quant mean instead of
// one per module, gpu_model_from_hf.h). Without the rounding, NF4 codes of fp32 weights near a
// code boundary land on the other code and the fp32 fixtures' logits move by ~9e-2:
//   nf4: lora_logits, loss, grad.<peft name>, prefill rows   the tolerances above, vs the CPU
//   nf4: decode step vs prefill of the same tokens           2e-2, GPU against GPU
// Errors (not a failed row) when the folder is incomplete or the model does not fit the GPU
// model, naming the file and field (gpu_model_from_hf, golden_fixture).
#pragma once

#include <string>

#include "base/status.h"
#include "engine/verify.h"
#include "kernels/cuda/cuda_context.h"

namespace kaito::gpu {

struct gpu_verify_options {
  bool nf4 = false;  // QLoRA: an NF4 base, checked against the CPU engine's NF4 (see above)
};

result<engine::verify_report> gpu_verify_fixture(cuda_context& cx, const std::string& dir,
                                                 const gpu_verify_options& opts = {});

}  // namespace kaito::gpu
