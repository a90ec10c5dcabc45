// Test-only: device buffers of the GPU model read back to the host, for the GPU tests
// (model_parity_test, hf_parity_test, grad_reducer_test, host_grad_reducer_test).
#pragma once

#include <cuda_runtime_api.h>

#include <cmath>
#include <vector>

#include "engine/cuda/device_buffer.h"
#include "engine/cuda/gpu_model.h"
#include "kernels/cuda/cuda_context.h"

namespace kaito::testing {

// The fp32 contents of b; every value NaN when the copy fails (so no comparison passes).
inline std::vector<float> download_f32(const gpu::device_buffer& b) {
  std::vector<float> h(b.bytes() / sizeof(float));
  if (cudaMemcpy(h.data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost) != cudaSuccess)
    h.assign(h.size(), NAN);
  return h;
}

// Every LoRA gradient of m after the stream's work, concatenated in (layer, target, dA then dB)
// order.
inline std::vector<float> all_lora_grads(cuda_context& cx, const gpu::gpu_model& m) {
  std::vector<float> out;
  (void)cx.synchronize();
  for (const gpu::gpu_layer& ly : m.layers)
    for (int t = 0; t < gpu::kLoraTargets; ++t)
      for (const gpu::device_buffer* b : {&ly.lora(t).dA, &ly.lora(t).dB}) {
        const std::vector<float> h = download_f32(*b);
        out.insert(out.end(), h.begin(), h.end());
      }
  return out;
}

}  // namespace kaito::testing
