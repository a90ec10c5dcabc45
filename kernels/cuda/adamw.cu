// AdamW update on the GPU; contract and CPU twin: kernels/adamw.{h,cpp} (torch.optim.AdamW).
// The fp32 element math is spelled with _rn intrinsics in the CPU twin's order so that nvcc cannot
// contract it into FMAs (the CPU twin builds with -ffp-contract=off): the two twins agree bit for
// bit. Scalars are formed on the host in fp64 and rounded to fp32 exactly as the CPU twin does.
#include <cmath>

#include "kernels/adamw.h"
#include "kernels/cuda/cuda_common.cuh"

namespace kaito {
namespace {

struct adamw_scalars {
  float decay, w1, b2, w2, neg_step, bc2_sqrt, eps;
};

__global__ void adamw_kernel(float* param, float* m, float* v, const float* grad, int64_t n,
                             adamw_scalars s) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float p = __fmul_rn(param[i], s.decay);
  const float g = grad[i];
  float mi = m[i];
  mi = s.w1 < 0.5f ? __fadd_rn(mi, __fmul_rn(s.w1, __fsub_rn(g, mi)))
                   : __fsub_rn(g, __fmul_rn(__fsub_rn(g, mi), __fsub_rn(1.0f, s.w1)));
  float vi = __fmul_rn(v[i], s.b2);
  vi = __fadd_rn(vi, __fmul_rn(__fmul_rn(s.w2, g), g));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.bc2_sqrt), s.eps);
  param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(s.neg_step, mi), denom));
  m[i] = mi;
  v[i] = vi;
}

}  // namespace

// launchers

void adamw_update_cuda(cuda_context& cx, float* param, float* m, float* v, const float* grad,
                       int64_t n, const adamw_params& hp, int64_t t) {
  KAITO_CHECK(n >= 0 && t >= 1, "adamw_update_cuda: n=", n, " t=", t);
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(hp.beta1, double(t));
  const double bc2 = 1.0 - std::pow(hp.beta2, double(t));
  const adamw_scalars s{float(1.0 - hp.lr * hp.weight_decay),
                        float(1.0 - hp.beta1),
                        float(hp.beta2),
                        float(1.0 - hp.beta2),
                        float(-(hp.lr / bc1)),
                        float(std::sqrt(bc2)),
                        float(hp.eps)};
  adamw_kernel<<<unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream()>>>(param, m, v, grad, n,
                                                                             s);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
