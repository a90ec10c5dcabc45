// device_measure (contract: engine/cuda/device_measure.h).
#include "engine/cuda/device_measure.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cuda/cuda_try.h"

namespace kaito::gpu {

result<double> bf16_max_rel_diff(const bf16* a_dev, const bf16* b_dev, int64_t n) {
  std::vector<bf16> a(static_cast<size_t>(n)), b(a.size());
  GPU_TRY_CUDA(cudaMemcpy(a.data(), a_dev, a.size() * 2, cudaMemcpyDeviceToHost));
  GPU_TRY_CUDA(cudaMemcpy(b.data(), b_dev, b.size() * 2, cudaMemcpyDeviceToHost));
  double mx = 0.0, d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double va = bf16_to_f32(a[i]), vb = bf16_to_f32(b[i]);
    mx = std::max(mx, std::fabs(va));
    const double e = std::fabs(va - vb);
    d = std::isnan(e) ? INFINITY : std::max(d, e);
  }
  return mx > 0.0 ? d / mx : d;
}

result<double> best_pass_us(cuda_context& cx, const std::function<void()>& pass, int reps) {
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  GPU_TRY_CUDA(cudaEventCreate(&e0));
  cudaError_t err = cudaEventCreate(&e1);
  double best = INFINITY;
  for (int rep = 0; rep <= reps && err == cudaSuccess; ++rep) {
    err = cudaEventRecord(e0, cx.stream());
    if (err != cudaSuccess) break;
    pass();
    err = cudaEventRecord(e1, cx.stream());
    if (err == cudaSuccess) err = cudaEventSynchronize(e1);
    float ms = 0.0f;
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, e0, e1);
    if (err == cudaSuccess && rep > 0) best = std::min(best, 1000.0 * double(ms));
  }
  cudaEventDestroy(e0);
  if (e1 != nullptr) cudaEventDestroy(e1);
  GPU_TRY_CUDA(err);
  return best;
}

}  // namespace kaito::gpu
