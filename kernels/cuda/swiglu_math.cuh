// swiglu_math.cuh: the SwiGLU activation of one element, shared by swiglu_forward_kernel
// (kernels/cuda/swiglu.cu) and the fused decode epilogue of lora_decode_swiglu_cuda
// (kernels/cuda/lora_decode.cu), so both round to the same bf16 bit for bit. fp32 math with
// sigmoid = 1 / (1 + expf(-g)), as torch's silu; internal to kernels/cuda/.
#pragma once

#include <cuda_bf16.h>

namespace kaito {

__device__ __forceinline__ __nv_bfloat16 swiglu_act(__nv_bfloat16 gate, __nv_bfloat16 up) {
  const float g = __bfloat162float(gate);
  return __float2bfloat16_rn(__bfloat162float(up) * (g / (1.0f + expf(-g))));
}

}  // namespace kaito
