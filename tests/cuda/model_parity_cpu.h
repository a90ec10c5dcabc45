// The CPU side of tests/cuda/model_parity_test.cu: one QLoRA training step of the gpu_model
// architecture (engine/cuda/gpu_model.h) composed from the CPU twins in kernels/ (fp32 math),
// rounding to bf16 at every place the GPU step stores a bf16 tensor (weights, activations, their
// gradients), so the comparison measures the kernels, not bf16 itself. The base linears are the
// SAME NF4 double-quantized states the GPU holds (nf4_quantize_weight, deterministic), decoded
// with nf4_effective_absmax and rounded to bf16 as nf4_dequantize_cuda does (with
// !s.quantized_base: the given weights rounded to bf16). Rope: s.rope's frequencies for a forward
// of T tokens (rope_inv_freq(s.rope, T), attention factor included), built here independently of
// engine/cuda/rope_tables. Dropout 0 only.
// bf16_rounding = false keeps everything fp32 (activations, LoRA weights, the dequantized base):
// the test's finite-difference check of this reference uses that.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cuda/gpu_model.h"

namespace kaito::parity {

struct cpu_step {
  double loss = 0.0;
  std::vector<float> logits;  // (N, V) fp32 (from bf16 logits)
  // by layer, by lora_target: fp32 gradients of A (r, in) and B (out, r)
  std::vector<std::vector<float>> dA, dB;  // index l * 4 + t
};

cpu_step cpu_train_step(const gpu::gpu_model_shape& s, const gpu::host_model_weights& w,
                        const std::vector<int32_t>& ids, const std::vector<int32_t>& targets,
                        int64_t B, int64_t T, bool bf16_rounding = true);

}  // namespace kaito::parity
