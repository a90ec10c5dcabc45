// SiLU-gated MLP activation (HF Phi3MLP / LlamaMLP): out = silu(gate) * up, silu(x) = x*sigmoid(x).
//   out[n,i] = gate[n,i] / (1 + exp(-gate[n,i])) * up[n,i]
// gate and up are read with a row stride `ld` (elements), so one function serves
//   - Phi-3's fused gate_up_proj output (N, 2I): row n = [gate (I) | up (I)], first half gate,
//     second half up (HF `gate, up = gate_up.chunk(2, dim=-1)`): gate = gate_up,
//     up = gate_up + I, ld = 2I;
//   - Llama/Mistral/Qwen2 separate gate_proj and up_proj outputs, (N, I) each: ld = I.
// Shapes (legend: N = B*T, I intermediate size): out, dout: (N, I) contiguous; gate, up, dgate,
// dup: (N, I) with row stride ld >= I. Forward saves nothing (backward reads gate and up).
// Backward, with sig = sigmoid(g):
//   dgate[n,i] = dout * up * sig * (1 + g * (1 - sig))        overwritten (=)
//   dup[n,i]   = dout * silu(g)                                overwritten (=)
// CPU twin: fp32, sigmoid as 1/(1+exp(-g)) (torch's silu). CUDA twin: bf16 data, fp32 math.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

void swiglu_forward_cpu(float* out, const float* gate, const float* up, int64_t N, int64_t I,
                        int64_t ld);
void swiglu_backward_cpu(float* dgate, float* dup, const float* dout, const float* gate,
                         const float* up, int64_t N, int64_t I, int64_t ld);

#if KAITO_WITH_CUDA
void swiglu_forward_cuda(cuda_context& cx, bf16* out, const bf16* gate, const bf16* up, int64_t N,
                         int64_t I, int64_t ld);
void swiglu_backward_cuda(cuda_context& cx, bf16* dgate, bf16* dup, const bf16* dout,
                          const bf16* gate, const bf16* up, int64_t N, int64_t I, int64_t ld);
#endif

}  // namespace kaito
