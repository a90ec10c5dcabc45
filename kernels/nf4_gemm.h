// Linear layers over a frozen NF4 weight (bitsandbytes MatMul4Bit, the QLoRA base path):
//   forward:       out[n,o]  = sum_c inp[n,c] * Wq[o,c] (+ bias[o])                  overwritten
//   (=) backward inp:  dinp[n,c] = sum_o dout[n,o] * Wq[o,c]                            overwritten
//   (=) Wq = nf4 dequantize(packed, absmax) in fp32 (kernels/nf4.h); no dW: the base is frozen.
// Shapes (legend: N = B*T rows, C in features, OC out features): packed: ceil(OC*C/2) bytes of the
// row-major (OC, C) weight; absmax: ceil(OC*C/64) fp32 (for double-quantized checkpoints use
// nf4_effective_absmax once at load); inp, dinp: (N, C); out, dout: (N, OC); bias (OC) or nullptr.
// The weight is dequantized in row panels (~1 MiB of fp32 at a time), never materialized whole,
// then each panel goes through sgemm_cpu: results equal nf4_dequantize_cpu + gemm_forward_cpu up
// to the BLAS blocking of the panel. bnb computes the same product with the weight rounded to the
// compute dtype first (bf16 on GPUs); with fp32 compute (the CPU twin) there is no rounding.
// CUDA twin: nf4_gemm_forward_cuda (kernels/nf4.h), bf16 dequantized weight, cuBLASLt.
#pragma once

#include <cstdint>

namespace kaito {

void nf4_gemm_forward_cpu(float* out, const float* inp, const uint8_t* packed, const float* absmax,
                          const float* bias, int64_t N, int64_t C, int64_t OC);
void nf4_gemm_backward_inp_cpu(float* dinp, const float* dout, const uint8_t* packed,
                               const float* absmax, int64_t N, int64_t C, int64_t OC);

}  // namespace kaito
