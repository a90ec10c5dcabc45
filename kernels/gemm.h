// GEMM for linear layers (torch.nn.functional.linear): out = inp · weightᵀ [+ bias].
//   forward:          out[n,o]      = sum_c inp[n,c] * weight[o,c] + bias[o]     overwritten (=)
//   backward inp:     dinp[n,c]     = sum_o dout[n,o] * weight[o,c]              overwritten (=)
//   backward weight:  dweight[o,c] += sum_n dout[n,o] * inp[n,c]                 accumulated (+=)
//                     dbias[o]     += sum_n dout[n,o]   (dbias may be nullptr)   accumulated (+=)
// Shapes (legend: N = B*T rows, C input features, OC output features):
//   inp, dinp: (N, C); weight, dweight: (OC, C) as PyTorch nn.Linear stores it (C contiguous);
//   bias, dbias: (OC) or nullptr; out, dout: (N, OC). Row-major, last dimension contiguous.
// Forward saves nothing: backward needs the forward's inp (the caller keeps it) and weight.
// The frozen-base (QLoRA) path calls only gemm_forward and gemm_backward_inp: there is no dW for a
// frozen W (bitsandbytes MatMul4Bit.backward). dinp overwrites, so LoRA and residual
// contributions are added after it.
// CPU twin: fp32 data and fp32 accumulation through our packed AVX-512 SGEMM
// (kernels/sgemm_avx512.h) on AVX-512 CPUs, else cblas_sgemm (OpenBLAS) when KAITO_HAVE_BLAS,
// else plain loops with fp64 accumulators (the GPU host has no OpenBLAS). The _bf16w variants
// take bf16 weights (HF checkpoints) and upcast them exactly to fp32 in row panels.
// CUDA twin: cuBLASLt, bf16 inputs, fp32 accumulation (CUBLAS_COMPUTE_32F); dweight/dbias fp32.
// Reference: torch.nn.functional.linear and its autograd (addmm / mm).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void gemm_forward_cpu(float* out, const float* inp, const float* weight, const float* bias,
                      int64_t N, int64_t C, int64_t OC);
void gemm_forward_bf16w_cpu(float* out, const float* inp, const bf16* weight, const float* bias,
                            int64_t N, int64_t C, int64_t OC);
void gemm_backward_inp_cpu(float* dinp, const float* dout, const float* weight, int64_t N,
                           int64_t C, int64_t OC);
void gemm_backward_inp_bf16w_cpu(float* dinp, const float* dout, const bf16* weight, int64_t N,
                                 int64_t C, int64_t OC);
void gemm_backward_weight_cpu(float* dweight, float* dbias, const float* dout, const float* inp,
                              int64_t N, int64_t C, int64_t OC);
// The bias alone, for a product made without it (the NF4 GEMMs and GEMV of a frozen base whose
// linear has a bias, Qwen2's q/k/v): out[n,o] += bias[o] over (N, OC) (+=). CPU twin fp32; CUDA
// twin bf16 out and bias, the sum in fp32 rounded once (so the product was rounded before the
// bias: one rounding more than the fused forward's epilogue).
void gemm_add_bias_cpu(float* out, const float* bias, int64_t N, int64_t OC);

// Generic row-major matrix product used by the ops above and by LoRA/attention:
//   c(M,N) = alpha * op(a) · op(b) + beta * c,  op(x) = x or xᵀ (trans_*), ld* = row strides.
// beta == 0 ignores c's previous contents (NaN-safe). fp32 via sgemm_avx512, cblas_sgemm or
// plain loops (in that order of preference).
void sgemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc);

#if KAITO_WITH_CUDA
void gemm_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const bf16* weight,
                       const bf16* bias, int64_t N, int64_t C, int64_t OC);
void gemm_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout, const bf16* weight,
                            int64_t N, int64_t C, int64_t OC);
void gemm_backward_weight_cuda(cuda_context& cx, float* dweight, float* dbias, const bf16* dout,
                               const bf16* inp, int64_t N, int64_t C, int64_t OC);
void gemm_add_bias_cuda(cuda_context& cx, bf16* out, const bf16* bias, int64_t N, int64_t OC);
#endif

}  // namespace kaito
