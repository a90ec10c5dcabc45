// Cross-entropy CPU twin (contract: kernels/cross_entropy.h). fp32 exponentials, fp64 sums, row
// max subtracted.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "kernels/parallel_for.h"
#include "kernels/vexp.h"

namespace kaito {

void cross_entropy_forward_cpu(float* losses, float* lse, const float* logits,
                               const int32_t* targets, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    int32_t t = targets[n];
    KAITO_CHECK(t == cross_entropy_ignore_index || (t >= 0 && t < V), "target ", t, " outside [0, ",
                V, ") at row ", n);
  }
  parallel_for(N, parallel_grain(4 * V), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* x = logits + n * V;  // logits[n,:]
      const float mx = max_cpu(x, V);
      const double sum = sum_exp_shifted_cpu(x, mx, V);  // fp32 exp, fp64 sum
      double l = double(mx) + std::log(sum);
      lse[n] = float(l);
      int32_t t = targets[n];
      losses[n] = t == cross_entropy_ignore_index ? 0.0f : float(l - double(x[t]));
    }
  });
}

void cross_entropy_backward_cpu(float* dlogits, const float* logits, const float* lse,
                                const int32_t* targets, float grad_scale, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    int32_t t = targets[n];
    KAITO_CHECK(t == cross_entropy_ignore_index || (t >= 0 && t < V), "target ", t, " outside [0, ",
                V, ") at row ", n);
  }
  parallel_for(N, parallel_grain(4 * V), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* x = logits + n * V;
      float* d = dlogits + n * V;  // may be x (in place): each element is read before written
      int32_t t = targets[n];
      if (t == cross_entropy_ignore_index) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      exp_shifted_cpu(d, x, lse[n], V);  // softmax in fp32, as torch's log_softmax backward
      const float pt = d[t];
      for (int64_t v = 0; v < V; ++v) d[v] *= grad_scale;
      d[t] = grad_scale * (pt - 1.0f);
    }
  });
}

int64_t cross_entropy_count(const int32_t* targets, int64_t N) {
  int64_t c = 0;
  for (int64_t n = 0; n < N; ++n) c += targets[n] != cross_entropy_ignore_index;
  return c;
}

double cross_entropy_mean(const float* losses, const int32_t* targets, int64_t N) {
  int64_t c = cross_entropy_count(targets, N);
  if (c == 0) return 0.0;
  double s = 0.0;
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] != cross_entropy_ignore_index) s += losses[n];
  return s / double(c);
}

}  // namespace kaito
