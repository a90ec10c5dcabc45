// AdamW, exactly torch.optim.AdamW (single-tensor path, amsgrad=False, maximize=False), t >= 1:
//   p     = p * (1 - lr*wd)           decoupled weight decay, BEFORE the Adam update
//   m     = m + (1-b1) * (g - m)      torch lerp_(g, 1-b1) (its weight < 0.5 branch)
//   v     = v * b2 + (1-b2) * g * g   mul_(b2).addcmul_(g, g, value=1-b2)
//   bc1   = 1 - b1^t, bc2 = 1 - b2^t  fp64 scalars, as python computes them
//   denom = sqrt(v) / sqrt(bc2) + eps eps added AFTER the bias-corrected sqrt
//   p     = p + (-lr/bc1) * m / denom addcdiv_: (value * m) / denom
// Scalars are computed in fp64 and rounded to fp32 where torch hands them to fp32 kernels; the
// element math is fp32 in torch's operation order, to match torch bit for bit on the CPU.
// NOT bitsandbytes' AdamW, which decays after the step (reference/qlora.md §2.3).
// Shapes: n elements; param, m, v, grad contiguous fp32. param, m, v are updated in place; grad
// is read only. m and v start at zero (torch's lazy state init). Clip grad first (grad_clip.h).
// CUDA twin: the same fp32 element math (fp32 master weights, grads and state).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

struct adamw_params {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // torch's default; HF Trainer passes 0.0 unless set
};

// One tensor of a multi-tensor update (device pointers for the CUDA twin).
struct adamw_tensor {
  float* param;
  float* m;
  float* v;
  const float* grad;
  int64_t n;
};

// t: the 1-based step count after this update (torch's state["step"]).
void adamw_update_cpu(float* param, float* m, float* v, const float* grad, int64_t n,
                      const adamw_params& hp, int64_t t);

#if KAITO_WITH_CUDA
void adamw_update_cuda(cuda_context& cx, float* param, float* m, float* v, const float* grad,
                       int64_t n, const adamw_params& hp, int64_t t);
// Every tensor of `list` (a host array of `count` entries holding device pointers) in ONE launch
// (torch's _multi_tensor_adamw / apex multi_tensor_apply): the hundreds of small LoRA A/B tensors
// of a model would otherwise cost a launch each. Same element math, bit-identical to the above.
// The tensor table goes through cx's arena (count * 48 bytes).
void adamw_update_multi_cuda(cuda_context& cx, const adamw_tensor* list, int64_t count,
                             const adamw_params& hp, int64_t t);
#endif

}  // namespace kaito
