// Global-norm gradient clipping, torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=2):
//   total_norm = sqrt(sum over tensors and elements of g^2)
//   clip_coef  = max_norm / (total_norm + 1e-6), clamped to at most 1.0
//   g *= clip_coef for every gradient (torch multiplies even when the coefficient is 1)
// HF Trainer calls it with max_grad_norm (QLoRA default 0.3) once per optimizer step, after
// gradient accumulation and before AdamW. A non-finite total_norm is returned as is (torch's
// error_if_nonfinite=False): the coefficient is then NaN and the caller decides to skip the step.
// The CPU twin sums squares in fp64 (torch sums per-tensor norms in fp32: agreement ~1e-7 rel).
// Shapes: any number of contiguous fp32 tensors. Scaling is in place (=).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

// Sum of squares of n elements, fp64 accumulator; returns it (no state).
double grad_sum_squares_cpu(const float* grad, int64_t n);
// total_norm from the summed squares of every tensor.
double grad_total_norm(double sum_squares);
// min(1, max_norm / (total_norm + 1e-6)) as fp32 (torch computes it as an fp32 tensor).
float grad_clip_coef(double total_norm, double max_norm);
// grad *= coef (=, in place).
void grad_scale_cpu(float* grad, int64_t n, float coef);

#if KAITO_WITH_CUDA
// *sum_squares (device, fp32) += sum of grad^2; the caller zeroes it once per step.
void grad_sum_squares_cuda(cuda_context& cx, float* sum_squares, const float* grad, int64_t n);
void grad_scale_cuda(cuda_context& cx, float* grad, int64_t n, float coef);
#endif

}  // namespace kaito
