// Internal to engine/cuda (gpu_model.cu, gpu_model_build.cu): what the random and the host-built
// models share. Not part of the model's contract (engine/cuda/gpu_model.h).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gpu_model.h"

namespace kaito::gpu::detail {

// Device scratch for quantizing base linears of up to max_numel elements on the device:
// `weight` fp32 (max_numel), `absmax` one fp32 for the offset, 63 spare, then one per 64-block.
struct quantize_scratch {
  device_buffer weight, absmax;
  float* offset() const { return absmax.as<float>(); }
  float* blocks() const { return absmax.as<float>() + 64; }
};
// The largest base linear of the shape (elements).
int64_t max_linear_numel(const gpu_model_shape& s);
result<quantize_scratch> alloc_quantize_scratch(int64_t max_numel);

// Double quantization of the fp32 device weight w (lin.numel() values; may be s.weight) into
// lin's NF4 state: nf4_quantize_weight's recipe on the device (nf4_quantize_cuda, an fp64 mean
// in a fixed order, quantize_blockwise_8bit_cuda). Synchronizes (the offset is read back).
status quantize_dq_device(cuda_context& cx, const gpu_model& m, gpu_base_linear& lin,
                          const float* w, const quantize_scratch& s);

// LoRA masters from host fp32 values (A (r, in), B (out, r)), bf16 copies from the masters,
// grads zero. Synchronizes.
status upload_lora(cuda_context& cx, gpu_lora_linear& a, const std::vector<float>& A,
                   const std::vector<float>& B);

}  // namespace kaito::gpu::detail
