// RMSNorm over the last dimension (HF LlamaRMSNorm / Phi3RMSNorm / MistralRMSNorm / Qwen2RMSNorm).
//   out[n,c] = inp[n,c] * rstd[n] * weight[c],  rstd[n] = 1/sqrt(mean_c inp[n,c]^2 + eps)
// Shapes (legend: B batch, T time, C channels, N = B*T rows):
//   inp, out, dout, dinp: (N, C) row-major, C contiguous; weight, dweight: (C); rstd: (N) fp32.
// Forward saves rstd (N) for backward (the CUDA forwards take rstd = nullptr for a recompute that
// needs only out: the same out bits); out may not alias inp.
// Backward, with g[n,c] = dout[n,c] * weight[c]:
//   dinp[n,c]    = rstd[n] * g[n,c] - inp[n,c] * rstd[n]^3 * mean_c(g[n,c] * inp[n,c])   (=)
//   dweight[c]  += sum_n dout[n,c] * inp[n,c] * rstd[n]                                   (+=)
// dinp is overwritten (=); dweight is accumulated (+=) across micro-batches, or nullptr when the
// norm weight is frozen (QLoRA): then only dinp is computed. dinp may not alias dout or inp.
// Rows (and dweight's columns) are shared out over kernels/parallel_for.h; results do not depend
// on the thread count.
// HF rounds inp*rstd to the input dtype before multiplying by weight; with fp32 data (the CPU
// twin) that is the same thing.
// CPU twin: fp32 data, fp64 row sums (mean of squares, backward dot) and fp64 dweight sums.
// CUDA twin: bf16 data, fp32 math, fp32 rstd and dweight. Tolerances: tests/cuda/parity_test.cu.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void rmsnorm_forward_cpu(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                         int64_t C, float eps);
void rmsnorm_backward_cpu(float* dinp, float* dweight, const float* dout, const float* inp,
                          const float* weight, const float* rstd, int64_t N, int64_t C);

#if KAITO_WITH_CUDA
void rmsnorm_forward_cuda(cuda_context& cx, bf16* out, float* rstd, const bf16* inp,
                          const bf16* weight, int64_t N, int64_t C, float eps);
// The residual add fused in front (one pass instead of two): sum = a + b (rounded to bf16, as
// a separate add would), then out = rmsnorm(sum) with rstd: bit for bit add_bf16 followed by
// rmsnorm_forward_cuda. sum may alias a or b (the residual stream updated in place); out must not
// alias sum, a or b. CPU twin: the add in fp32, then rmsnorm_forward_cpu.
void add_rmsnorm_forward_cuda(cuda_context& cx, bf16* sum, bf16* out, float* rstd, const bf16* a,
                              const bf16* b, const bf16* weight, int64_t N, int64_t C, float eps);
void rmsnorm_backward_cuda(cuda_context& cx, bf16* dinp, float* dweight, const bf16* dout,
                           const bf16* inp, const bf16* weight, const float* rstd, int64_t N,
                           int64_t C);
#endif

}  // namespace kaito
