// Global-norm gradient clipping pieces on the GPU; contract and CPU twin:
// kernels/grad_clip.{h,cpp}. grad_sum_squares: a grid-stride fp32 sum per thread, a block
// reduction, one atomicAdd per block into the caller's fp32 accumulator (order of the block sums
// varies: ~1e-7 relative). grad_scale: an element kernel. The norm and the coefficient are host
// scalars (grad_total_norm, grad_clip_coef) computed from the accumulator after all tensors of the
// step.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/grad_clip.h"

namespace kaito {
namespace {

__global__ void sum_squares_kernel(float* sum_squares, const float* grad, int64_t n) {
  __shared__ float scratch[32];
  float s = 0.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    s += grad[i] * grad[i];
  s = block_reduce_sum(s, scratch);
  if (threadIdx.x == 0) atomicAdd(sum_squares, s);
}

__global__ void scale_kernel(float* grad, int64_t n, float coef) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) grad[i] *= coef;
}

}  // namespace

// launchers

void grad_sum_squares_cuda(cuda_context& cx, float* sum_squares, const float* grad, int64_t n) {
  KAITO_CHECK(n >= 0, "grad_sum_squares_cuda: n=", n);
  if (n == 0) return;
  const int64_t blocks = std::min<int64_t>(ceil_div<int64_t>(n, 256), 4 * int64_t(cx.sm_count()));
  KAITO_LAUNCH(unsigned(blocks), 256, 0, cx.stream(), sum_squares_kernel)(sum_squares, grad, n);
  CUDA_CHECK(cudaGetLastError());
}

void grad_scale_cuda(cuda_context& cx, float* grad, int64_t n, float coef) {
  KAITO_CHECK(n >= 0, "grad_scale_cuda: n=", n);
  if (n == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), scale_kernel)
  (grad, n, coef);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
