// bf16 <-> fp32 bulk conversions on the GPU; contract and CPU twins: kernels/dtype.{h,cpp}.
// Widening is exact; narrowing is __float2bfloat16_rn (round to nearest even, NaN stays NaN), the
// same as f32_to_bf16. One thread per element (memory-bound, coalesced).
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/dtype.h"

namespace kaito {
namespace {

__global__ void bf16_to_f32_kernel(float* out, const __nv_bfloat16* in, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __bfloat162float(in[i]);
}

__global__ void f32_to_bf16_kernel(__nv_bfloat16* out, const float* in, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}

}  // namespace

// launchers

void bf16_to_f32_cuda(cuda_context& cx, float* out, const bf16* in, int64_t n) {
  KAITO_CHECK(n >= 0, "bf16_to_f32_cuda: n=", n);
  if (n == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), bf16_to_f32_kernel)
  (out, as_nv(in), n);
  CUDA_CHECK(cudaGetLastError());
}

void f32_to_bf16_cuda(cuda_context& cx, bf16* out, const float* in, int64_t n) {
  KAITO_CHECK(n >= 0, "f32_to_bf16_cuda: n=", n);
  if (n == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), f32_to_bf16_kernel)
  (as_nv(out), in, n);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
