// AdamW CPU twin (contract: kernels/adamw.h): torch.optim.AdamW's single-tensor path, fp32
// element math in torch's order, scalars formed in fp64 like python and rounded where torch does.
#include "kernels/adamw.h"

#include <cmath>

namespace kaito {

void adamw_update_cpu(float* param, float* m, float* v, const float* grad, int64_t n,
                      const adamw_params& hp, int64_t t) {
  const float decay = float(1.0 - hp.lr * hp.weight_decay);  // param.mul_(1 - lr * wd)
  const float w1 = float(1.0 - hp.beta1);                    // exp_avg.lerp_(grad, 1 - beta1)
  const float b2 = float(hp.beta2);
  const float w2 = float(1.0 - hp.beta2);
  const double bc1 = 1.0 - std::pow(hp.beta1, double(t));
  const double bc2 = 1.0 - std::pow(hp.beta2, double(t));
  const float neg_step = float(-(hp.lr / bc1));  // addcdiv_ value = -step_size
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float eps = float(hp.eps);
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i] * decay;
    float g = grad[i];
    float mi = m[i];
    // torch lerp: weight < 0.5 ? self + weight * (end - self) : end - (end - self) * (1 - weight)
    mi = w1 < 0.5f ? mi + w1 * (g - mi) : g - (g - mi) * (1.0f - w1);
    float vi = v[i] * b2;
    vi = vi + w2 * g * g;  // addcmul_: self + value * t1 * t2
    float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p = p + neg_step * mi / denom;  // addcdiv_: self + value * t1 / t2
    param[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace kaito
