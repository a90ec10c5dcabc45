// RMSNorm CPU twin (contract: kernels/rmsnorm.h). fp32 data, fp64 row sums.
#include "kernels/rmsnorm.h"

#include <cmath>
#include <vector>

#include "kernels/parallel_for.h"

namespace kaito {

void rmsnorm_forward_cpu(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                         int64_t C, float eps) {
  parallel_for(N, parallel_grain(4 * C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* x = inp + n * C;  // seek to inp[n,:]
      float* o = out + n * C;        // seek to out[n,:]
      double ss = 0.0;
      for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * double(x[c]);
      // torch: rsqrt(mean(x^2) + eps) in fp32; the mean is formed in fp64 here and rounded once
      float ms = float(ss / double(C));
      float r = 1.0f / std::sqrt(ms + eps);
      for (int64_t c = 0; c < C; ++c) o[c] = (x[c] * r) * weight[c];  // HF: (x * rstd) * weight
      rstd[n] = r;
    }
  });
}

void rmsnorm_backward_cpu(float* dinp, float* dweight, const float* dout, const float* inp,
                          const float* weight, const float* rstd, int64_t N, int64_t C) {
  // dinp: rows are independent.
  parallel_for(N, parallel_grain(6 * C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
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
      }
    }
  });
  if (!dweight) return;
  // dweight: column blocks are independent; each column sums its rows in order, in fp64.
  parallel_for(C, 64, [&](int64_t c0, int64_t c1) {
    std::vector<double> dw(size_t(c1 - c0), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      const double r = rstd[n];
      for (int64_t c = c0; c < c1; ++c) dw[size_t(c - c0)] += double(dy[c]) * double(x[c]) * r;
    }
    for (int64_t c = c0; c < c1; ++c) dweight[c] += float(dw[size_t(c - c0)]);
  });
}

}  // namespace kaito
