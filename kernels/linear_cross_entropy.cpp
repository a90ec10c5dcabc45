// Fused linear + cross-entropy CPU twin (contract: kernels/linear_cross_entropy.h). Chunks of Vc
// vocabulary rows: logits chunk by sgemm_cpu, online logsumexp (fp32 exp, fp64 running sum, as
// cross_entropy_forward_cpu), backward recomputes each chunk and accumulates dlogits · W_chunk.
#include "kernels/linear_cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/cross_entropy.h"
#include "kernels/gemm.h"

namespace kaito {
namespace {

void check_args(const int32_t* targets, int64_t N, int64_t C, int64_t V, int64_t Vc) {
  KAITO_CHECK(N >= 0 && C > 0 && V > 0 && Vc > 0, "linear_cross_entropy: bad shape N=", N, " C=", C,
              " V=", V, " Vc=", Vc);
  for (int64_t n = 0; n < N; ++n) {
    const int32_t t = targets[n];
    KAITO_CHECK(t == cross_entropy_ignore_index || (t >= 0 && t < V), "target ", t, " outside [0, ",
                V, ") at row ", n);
  }
}

}  // namespace

void linear_cross_entropy_forward_cpu(float* losses, float* lse, const float* h, const float* W,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V,
                                      int64_t Vc) {
  check_args(targets, N, C, V, Vc);
  if (N == 0) return;
  Vc = std::min(Vc, V);
  std::vector<float> logits(size_t(N * Vc));
  std::vector<float> run_max(size_t(N), -INFINITY), target_logit(size_t(N), 0.0f);
  std::vector<double> run_sum(size_t(N), 0.0);
  for (int64_t v0 = 0; v0 < V; v0 += Vc) {
    const int64_t vc = std::min(Vc, V - v0);
    // logits(N, vc) = h(N, C) · W[v0 : v0+vc, :]ᵀ
    sgemm_cpu(false, true, N, vc, C, 1.0f, h, C, W + v0 * C, C, 0.0f, logits.data(), vc);
    for (int64_t n = 0; n < N; ++n) {
      const float* x = logits.data() + n * vc;  // logits[n, v0 : v0+vc]
      float cm = run_max[size_t(n)];
      for (int64_t v = 0; v < vc; ++v) cm = std::max(cm, x[v]);
      double s = run_sum[size_t(n)];
      if (cm > run_max[size_t(n)] && s > 0.0) s *= std::exp(double(run_max[size_t(n)]) - cm);
      for (int64_t v = 0; v < vc; ++v) s += std::exp(x[v] - cm);  // fp32 exp, fp64 sum
      run_max[size_t(n)] = cm;
      run_sum[size_t(n)] = s;
      const int32_t t = targets[n];
      if (t >= v0 && t < v0 + vc) target_logit[size_t(n)] = x[t - v0];
    }
  }
  for (int64_t n = 0; n < N; ++n) {
    const double l = double(run_max[size_t(n)]) + std::log(run_sum[size_t(n)]);
    lse[n] = float(l);
    losses[n] = targets[n] == cross_entropy_ignore_index
                    ? 0.0f
                    : float(l - double(target_logit[size_t(n)]));
  }
}

void linear_cross_entropy_backward_cpu(float* dh, const float* h, const float* W, const float* lse,
                                       const int32_t* targets, float grad_scale, int64_t N,
                                       int64_t C, int64_t V, int64_t Vc) {
  check_args(targets, N, C, V, Vc);
  if (N == 0) return;
  Vc = std::min(Vc, V);
  std::vector<float> d(size_t(N * Vc));
  for (int64_t v0 = 0; v0 < V; v0 += Vc) {
    const int64_t vc = std::min(Vc, V - v0);
    sgemm_cpu(false, true, N, vc, C, 1.0f, h, C, W + v0 * C, C, 0.0f, d.data(), vc);
    for (int64_t n = 0; n < N; ++n) {
      float* x = d.data() + n * vc;  // logits in, dlogits out (each read before it is written)
      const int32_t t = targets[n];
      if (t == cross_entropy_ignore_index) {
        std::fill(x, x + vc, 0.0f);
        continue;
      }
      const float l = lse[n];
      for (int64_t v = 0; v < vc; ++v) {
        const float p = std::exp(x[v] - l);  // softmax in fp32, as cross_entropy_backward_cpu
        x[v] = grad_scale * (v0 + v == t ? p - 1.0f : p);
      }
    }
    // dh(N, C) (=, then +=) dlogits(N, vc) · W[v0 : v0+vc, :]
    sgemm_cpu(false, false, N, C, vc, 1.0f, d.data(), vc, W + v0 * C, C, v0 == 0 ? 0.0f : 1.0f, dh,
              C);
  }
}

}  // namespace kaito
