// Fused lm_head linear + softmax cross-entropy over vocabulary chunks: the full (N, V) logits are
// never materialised (Liger-kernel / Apple "cut cross-entropy" idea; same loss as
// kernels/gemm.h gemm_forward followed by kernels/cross_entropy.h).
//   logits[n, v] = sum_c h[n, c] * W[v, c]                          (never stored whole)
//   lse[n]       = log(sum_v exp(logits[n, v]))                      fp32, saved for backward (=)
//   losses[n]    = lse[n] - logits[n, targets[n]], 0 when targets[n] == -100              (=)
// Backward (the only gradient: lm_head is frozen in QLoRA, so there is NO dW here):
//   dh[n, c] = sum_v grad_scale * (exp(logits[n, v] - lse[n]) - [v == targets[n]]) * W[v, c]  (=)
//   rows with targets[n] == -100 get dh = 0. grad_scale as in cross_entropy.h (1/count for the
//   mean, divided further for gradient accumulation). The logits are recomputed chunk by chunk.
// Chunking: the vocabulary is walked in chunks of Vc rows of W (the last may be shorter). Forward
// keeps a running (max, sum of exp) per row (online logsumexp) and picks the target logit from the
// chunk that holds it; backward turns each recomputed chunk into dlogits and accumulates
// dlogits · W_chunk into dh. Peak scratch is O(N * Vc), independent of V.
// Shapes (legend: N = B*T rows, C = hidden size, V = vocabulary, Vc = chunk, 1 <= Vc):
//   h, dh (N, C); W (V, C) as nn.Linear stores lm_head.weight; targets (N) int32 with
//   0 <= t < V or t == -100 (precondition: KAITO_CHECKed on the CPU, out-of-range targets give a
//   zero loss row on the GPU); losses, lse (N) fp32. Row-major, last dimension contiguous.
// CPU twin: fp32 data, logits chunks through sgemm_cpu (fp32 accumulation), fp32 exponentials,
//   fp64 running sum of exponentials (as cross_entropy_forward_cpu), fp32 dh.
// CUDA twin (kernels/cuda/linear_cross_entropy.cu): bf16 h and W (lm_head stays bf16 in HF
//   QLoRA), each chunk's logits by cuBLASLt into fp32 arena scratch (N, Vc) (fp32 accumulation),
//   reduction kernels in fp32; backward rounds dlogits to bf16 (N, Vc) for the tensor-core product
//   and accumulates dh in fp32 arena scratch (N, C) across chunks, rounded once to bf16 at the end.
//   Arena scratch: forward N*Vc*4 + N*12 bytes, backward N*Vc*6 + N*C*4 bytes (released on
//   return; resource_exhausted is recorded when the arena is too small).
// Reference: torch.nn.functional.cross_entropy(h @ W.T, targets, ignore_index=-100) and its
// autograd w.r.t. h.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void linear_cross_entropy_forward_cpu(float* losses, float* lse, const float* h, const float* W,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V,
                                      int64_t Vc);
void linear_cross_entropy_backward_cpu(float* dh, const float* h, const float* W, const float* lse,
                                       const int32_t* targets, float grad_scale, int64_t N,
                                       int64_t C, int64_t V, int64_t Vc);

#if KAITO_WITH_CUDA
void linear_cross_entropy_forward_cuda(cuda_context& cx, float* losses, float* lse, const bf16* h,
                                       const bf16* W, const int32_t* targets, int64_t N, int64_t C,
                                       int64_t V, int64_t Vc);
void linear_cross_entropy_backward_cuda(cuda_context& cx, bf16* dh, const bf16* h, const bf16* W,
                                        const float* lse, const int32_t* targets, float grad_scale,
                                        int64_t N, int64_t C, int64_t V, int64_t Vc);
#endif

}  // namespace kaito
