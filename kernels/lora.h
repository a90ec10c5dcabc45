// LoRA adapter branch (PEFT peft/tuners/lora/layer.py Linear.forward, bnb.py Linear4bit.forward):
//   y = base(x) + lora_B(lora_A(dropout(x))) * s,   s = alpha / r   (rslora: alpha / sqrt(r))
// Forward (adds onto the base output the caller already computed in y):
//   xd = dropout(x)         (N, IN)   saved (=). Element e = n*IN + c is kept iff
//                           rng_uniform(seed, e) >= p; kept values are x * (1 / (1 - p))
//                           (torch: noise.bernoulli_(1-p).div_(1-p); x * noise). p == 0: xd = x.
//   z  = xd · Aᵀ            (N, R)    saved (=)
//   y += s * (z · Bᵀ)       (N, OUT)  accumulated (+=)
// Backward, with dt = s * dy:
//   dB += dtᵀ · z           (OUT, R)  accumulated (+=)
//   dz  = dt · B            (N, R)    scratch provided by the caller (=)
//   dA += dzᵀ · xd          (R, IN)   accumulated (+=)
//   dx += mask ⊙ (dz · A) / (1 - p)   (N, IN) accumulated (+=): the base path's dinp
//                           (gemm_backward_inp, which overwrites) runs first, then LoRA adds.
// Init (PEFT reset_lora_parameters, init_lora_weights=True): A ~ U(-bound, bound) with torch's
// kaiming_uniform_(a=sqrt(5)) bound = sqrt(3) * sqrt(2 / (1 + 5)) / sqrt(IN) (= 1/sqrt(IN)),
// drawn as A[e] = -bound + 2*bound*rng_uniform(seed, e) over A's row-major elements; B = 0.
// Shapes (legend: N = B*T rows, IN in_features, OUT out_features, R rank), row-major:
//   x, xd, dx: (N, IN); A, dA: (R, IN) (lora_A.weight); B, dB: (OUT, R) (lora_B.weight);
//   z, dz: (N, R); y, dy: (N, OUT). Adapter weights fp32 (PEFT's default).
// The dropout seed is chosen by the caller per (step, layer, module) with rng_derive, so the
// backward regenerates the same mask. CPU twin: fp32 through sgemm_cpu. CUDA twin: bf16
// activations and bf16 copies of A and B (refreshed from the fp32 masters after each optimizer
// step), fp32 dA and dB.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace kaito {

double lora_scale(double alpha, int64_t r, bool use_rslora);
// kaiming_uniform_(a=sqrt(5)) bound for fan_in IN.
double lora_init_bound(int64_t IN);
void lora_init_cpu(float* A, float* B, int64_t R, int64_t IN, int64_t OUT, uint64_t seed);

void dropout_forward_cpu(float* out, const float* inp, int64_t n, float p, uint64_t seed);

void lora_forward_cpu(float* y, float* xd, float* z, const float* x, const float* A, const float* B,
                      int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale, float dropout_p,
                      uint64_t seed);
void lora_backward_cpu(float* dx, float* dA, float* dB, float* dz, const float* dy, const float* xd,
                       const float* z, const float* A, const float* B, int64_t N, int64_t IN,
                       int64_t R, int64_t OUT, float scale, float dropout_p, uint64_t seed);
// The same for a module on a slice of a fused projection (q/k/v of qkv_proj, gate/up of
// gate_up_proj): y and dy point at the module's first output column and their rows are ldy
// floats apart (ldy >= OUT). With dropout_p == 0, xd may be nullptr in the forward (nothing is
// saved: xd would equal x) and the backward takes x as its xd. The strided backward's dx may be
// nullptr: then only dA and dB are accumulated.
void lora_forward_strided_cpu(float* y, int64_t ldy, float* xd, float* z, const float* x,
                              const float* A, const float* B, int64_t N, int64_t IN, int64_t R,
                              int64_t OUT, float scale, float dropout_p, uint64_t seed);
void lora_backward_strided_cpu(float* dx, float* dA, float* dB, float* dz, const float* dy,
                               int64_t ldy, const float* xd, const float* z, const float* A,
                               const float* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                               float scale, float dropout_p, uint64_t seed);

// Block-diagonal LoRA on a fused projection (the GPU model's form of PEFT's separate q_proj,
// k_proj, v_proj, or gate_proj, up_proj modules on one qkv / gate_up linear): NSEG modules of
// rank r each become one LoRA of rank R = NSEG * r with A (R, IN) = the modules' A stacked and
// B (OUT, R) block-diagonal: output rows [seg_end[s-1], seg_end[s]) (seg_end[-1] = 0,
// seg_end[NSEG-1] = OUT) of module s read only columns [s*r, (s+1)*r). The forward and dA, dx are
// then exactly the modules' (the other blocks of B are zero, and adding zeros is exact), but
// dB = dtᵀ · z fills every block: this zeroes dB (OUT, R) outside the diagonal blocks (=, in
// place) so AdamW keeps those B entries at zero (zero weight, grad and moments stay zero).
// Preconditions: 1 <= NSEG <= kLoraMaxBlocks, R % NSEG == 0, seg_end strictly increasing, the last
// == OUT. CPU twin: lora_block_mask_cpu; CUDA: lora_block_mask_cuda (same result, bit for bit).
inline constexpr int kLoraMaxBlocks = 4;
struct lora_blocks {
  int nseg = 1;
  int64_t seg_end[kLoraMaxBlocks] = {0, 0, 0, 0};
};
// Whether `b` is a valid block layout for a B of (OUT, R) (the preconditions above).
bool lora_blocks_valid(const lora_blocks& b, int64_t OUT, int64_t R);
void lora_block_mask_cpu(float* dB, int64_t OUT, int64_t R, const lora_blocks& b);

#if KAITO_WITH_CUDA
void lora_block_mask_cuda(cuda_context& cx, float* dB, int64_t OUT, int64_t R,
                          const lora_blocks& b);
// As lora_forward_strided_cpu: with dropout_p <= 0 nothing is saved in xd (it may be nullptr; no
// copy of x is made) and the backward takes x as its xd.
void lora_forward_cuda(cuda_context& cx, bf16* y, bf16* xd, bf16* z, const bf16* x, const bf16* A,
                       const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale,
                       float dropout_p, uint64_t seed);
// The decode form (kernels/cuda/lora_decode.cu): N <= 16 rows, R <= 64, no dropout, nothing
// saved: y (N, OUT) += s * (x · Aᵀ) · Bᵀ in ONE kernel (z rounded to bf16 as lora_forward_cuda
// stores it, fp32 math, y rounded once), where two cuBLASLt calls per linear cost more than the
// math. CPU twin: lora_forward_cpu with dropout 0.
void lora_decode_cuda(cuda_context& cx, bf16* y, const bf16* x, const bf16* A, const bf16* B,
                      int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale);
// lora_decode_cuda on the fused gate_up linear (OUT = 2I: gate columns [0, I), up [I, 2I)),
// then act (N, I) = swiglu(gate, up) of the updated y, in the same kernel: bit for bit
// lora_decode_cuda followed by swiglu_forward_cuda(act, y, y + I, N, I, OUT). CPU twin:
// lora_forward_cpu with dropout 0, then swiglu_forward_cpu.
void lora_decode_swiglu_cuda(cuda_context& cx, bf16* act, bf16* y, const bf16* x, const bf16* A,
                             const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                             float scale);
// A linear's LoRA term added to its base output b (N, C), then the residual add + RMSNorm that
// reads it, in one kernel: b += scale * (lx · Aᵀ) · Blᵀ (lx (N, IN), A (R, IN), Bl (C, R); stored
// back), then add_rmsnorm_forward_cuda(sum, out, rstd, a, b, weight, N, C, eps) (kernels/rmsnorm.h;
// sum may be a): bit for bit lora_decode_cuda then add_rmsnorm_forward_cuda. N <= 16, R <= 64.
// CPU twin: lora_forward_cpu with dropout 0, the add, rmsnorm_forward_cpu.
void lora_decode_add_rmsnorm_cuda(cuda_context& cx, bf16* sum, bf16* out, float* rstd,
                                  const bf16* a, bf16* b, const bf16* weight, int64_t N, int64_t C,
                                  float eps, const bf16* lx, const bf16* A, const bf16* Bl,
                                  int64_t IN, int64_t R, float scale);
void lora_backward_cuda(cuda_context& cx, bf16* dx, float* dA, float* dB, bf16* dz, const bf16* dy,
                        const bf16* xd, const bf16* z, const bf16* A, const bf16* B, int64_t N,
                        int64_t IN, int64_t R, int64_t OUT, float scale, float dropout_p,
                        uint64_t seed);
#endif

}  // namespace kaito
