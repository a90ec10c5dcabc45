// Global-norm clipping CPU twin (contract: kernels/grad_clip.h).
#include "kernels/grad_clip.h"

#include <algorithm>
#include <cmath>

namespace kaito {

double grad_sum_squares_cpu(const float* grad, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double(grad[i]) * double(grad[i]);
  return s;
}

double grad_total_norm(double sum_squares) {
  return std::sqrt(sum_squares);
}

float grad_clip_coef(double total_norm, double max_norm) {
  float total = float(total_norm);
  // torch: max_norm / (total_norm + 1e-6) with a python scalar numerator is
  // tensor.__rtruediv__ = (total_norm + 1e-6).reciprocal() * max_norm, all fp32
  float coef = (1.0f / (total + 1e-6f)) * float(max_norm);
  return std::isnan(coef) ? coef : std::min(coef, 1.0f);  // clamp(max=1.0) keeps NaN
}

void grad_scale_cpu(float* grad, int64_t n, float coef) {
  for (int64_t i = 0; i < n; ++i) grad[i] *= coef;
}

}  // namespace kaito
