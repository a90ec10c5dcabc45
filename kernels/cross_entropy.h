// Softmax cross-entropy over the vocabulary with ignore index -100
// (torch.nn.functional.cross_entropy, reduction="mean", ignore_index=-100; HF ForCausalLMLoss).
//   lse[n]    = log(sum_v exp(logits[n,v]))           fp32, saved for backward         (=)
//   losses[n] = lse[n] - logits[n, targets[n]], or 0 when targets[n] == -100            (=)
//   loss      = sum_n losses[n] / count(targets != -100)      (cross_entropy_mean; 0 if none)
// WHO SHIFTS: the caller. HF shifts inside ForCausalLMLoss (labels padded with -100 on the right,
// shift_labels = labels[..., 1:]), so the engine passes targets[b,t] = labels[b,t+1] and
// targets[b,T-1] = -100. The kernel never shifts.
// Backward: dlogits[n,v] = grad_scale * (exp(logits[n,v] - lse[n]) - [v == targets[n]])  (=);
//   rows with targets[n] == -100 are zero. grad_scale = dloss/dlosses[n]: 1/count for the mean
//   (divided further for gradient accumulation). dlogits may alias logits (in place).
// Shapes (legend: N = B*T, V vocab): logits, dlogits (N, V) row-major, V contiguous; targets (N)
// int32 with 0 <= t < V or t == -100 (precondition, KAITO_CHECKed); losses, lse (N) fp32.
// CPU twin: fp32 logits and exponentials, fp64 sum of exponentials (row max subtracted).
// CUDA twin: fp32 logits (the lm_head output is upcast for the loss, as transformers does).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

inline constexpr int32_t cross_entropy_ignore_index = -100;

void cross_entropy_forward_cpu(float* losses, float* lse, const float* logits,
                               const int32_t* targets, int64_t N, int64_t V);
void cross_entropy_backward_cpu(float* dlogits, const float* logits, const float* lse,
                                const int32_t* targets, float grad_scale, int64_t N, int64_t V);
// Number of targets != -100.
int64_t cross_entropy_count(const int32_t* targets, int64_t N);
// sum(losses) / count (fp64 sum), 0 when count == 0 (torch returns NaN there; we return 0 so an
// all-masked micro-batch contributes nothing).
double cross_entropy_mean(const float* losses, const int32_t* targets, int64_t N);

#if KAITO_WITH_CUDA
void cross_entropy_forward_cuda(cuda_context& cx, float* losses, float* lse, const float* logits,
                                const int32_t* targets, int64_t N, int64_t V);
void cross_entropy_backward_cuda(cuda_context& cx, float* dlogits, const float* logits,
                                 const float* lse, const int32_t* targets, float grad_scale,
                                 int64_t N, int64_t V);
#endif

}  // namespace kaito
