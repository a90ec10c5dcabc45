// RMSNorm CPU twin (contract: kernels/rmsnorm.h). fp32 data, fp64 row sums.
#include "kernels/rmsnorm.h"

#include <cmath>
#include <vector>

namespace kaito {

void rmsnorm_forward_cpu(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                         int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;  // seek to inp[n,:]
    float* o = out + n * C;        // seek to out[n,:]
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * double(x[c]);
    // torch: rsqrt(mean(x^2) + eps) in fp32; the mean is formed in fp64 here and rounded once
    float ms = float(ss / double(C));
    float r = 1.0f / std::sqrt(ms + eps);
    for (int64_t c = 0; c < C; ++c) o[c] = (x[c] * r) * weight[c];  // HF: (x * rstd) then * weight
    rstd[n] = r;
  }
}

void rmsnorm_backward_cpu(float* dinp, float* dweight, const float* dout, const float* inp,
                          const float* weight, const float* rstd, int64_t N, int64_t C) {
  std::vector<double> dw(size_t(C), 0.0);  // dweight terms summed over rows in fp64
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;    // inp[n,:]
    const float* dy = dout + n * C;  // dout[n,:]
    float* dx = dinp + n * C;        // dinp[n,:]
    double r = rstd[n];
    // dot = mean_c (dout * weight) * x, in fp64
    double dot = 0.0;
    for (int64_t c = 0; c < C; ++c) dot += double(dy[c]) * double(weight[c]) * double(x[c]);
    dot /= double(C);
    for (int64_t c = 0; c < C; ++c) {
      double g = double(dy[c]) * double(weight[c]);
      dx[c] = float(r * g - double(x[c]) * r * r * r * dot);
      dw[size_t(c)] += double(dy[c]) * double(x[c]) * r;
    }
  }
  if (dweight)
    for (int64_t c = 0; c < C; ++c) dweight[c] += float(dw[static_cast<size_t>(c)]);
}

}  // namespace kaito
