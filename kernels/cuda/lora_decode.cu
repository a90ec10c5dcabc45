// lora_decode_cuda (contract: kernels/lora.h): the LoRA branch of a decode step in one kernel.
//
// Design: grid-stride blocks of 256 threads over the OUT output columns. Every block first
// computes all of z = x · Aᵀ (N x R dot products of length IN, one warp per (row, rank) pair,
// lanes striding over IN, a shuffle reduction; z rounded to bf16 as lora_forward_cuda stores it)
// into shared memory: A (R x IN) and x are a few tens of KB that stay in L2, so recomputing z per
// block is cheaper than a second launch. Then each thread owns output columns o and adds
// scale * sum_r B[o, r] * z[n, r] to y[n, o] for every row n (fp32 math, one bf16 rounding).
// VEC: IN % 8 == 0 and x, A 16-byte aligned: 8 bf16 per load; otherwise scalar loads.
// SWI (lora_decode_swiglu_cuda, the gate_up linear): threads own column pairs (o, o + OUT/2), the
// gate and up of one activation, and after adding both LoRA terms also write
// act[n, o] = swiglu(gate, up) from the rounded sums (swiglu_math.cuh): the swiglu kernel's
// result bit for bit, one launch fewer per layer.
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/lora_decode_z.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/swiglu_math.cuh"
#include "kernels/lora.h"

namespace kaito {
namespace {

constexpr int kDecodeThreads = 256;

// act: SWI only, (N, OUT/2).
template <bool VEC, bool SWI>
__global__ void __launch_bounds__(kDecodeThreads)
    lora_decode_kernel(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* A,
                       const __nv_bfloat16* B, int N, int IN, int R, int OUT, float scale,
                       __nv_bfloat16* act) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  static __shared__ float zs[kDecodeMaxRows * kDecodeMaxRank];
  lora_decode_z<VEC>(zs, x, A, N, IN, R);
  const int cols = SWI ? OUT / 2 : OUT;  // SWI: column o and its up column o + OUT/2
  for (int o = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x); o < cols;
       o += int(gridDim.x) * int(blockDim.x)) {
    for (int n = 0; n < N; ++n) {
      __nv_bfloat16* yn = y + int64_t(n) * OUT;
      const __nv_bfloat16 v = add_lora_term(yn + o, B + int64_t(o) * R, zs + n * R, R, scale);
      if constexpr (SWI) {
        const __nv_bfloat16 up =
            add_lora_term(yn + cols + o, B + int64_t(cols + o) * R, zs + n * R, R, scale);
        act[int64_t(n) * cols + o] = swiglu_act(v, up);
      }
    }
  }
}

}  // namespace

#ifndef KAITO_CUDA_EMULATE
namespace {

template <bool SWI>
void launch_decode(cuda_context& cx, const char* who, bf16* act, bf16* y, const bf16* x,
                   const bf16* A, const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                   float scale) {
  KAITO_CHECK(N >= 0 && N <= kDecodeMaxRows && IN > 0 && IN <= INT32_MAX && R > 0 &&
                  R <= kDecodeMaxRank && OUT > 0 && OUT <= INT32_MAX && (!SWI || OUT % 2 == 0),
              who, ": bad shape N=", N, " IN=", IN, " R=", R, " OUT=", OUT);
  if (N == 0) return;
  const int64_t cols = SWI ? OUT / 2 : OUT;
  const unsigned grid =
      unsigned(std::min<int64_t>(ceil_div<int64_t>(cols, kDecodeThreads), int64_t(1024)));
  if (IN % 8 == 0 && aligned16(x) && aligned16(A)) {
    launch_pdl(cx, lora_decode_kernel<true, SWI>, dim3(grid), dim3(kDecodeThreads), 0, as_nv(y),
               as_nv(x), as_nv(A), as_nv(B), int(N), int(IN), int(R), int(OUT), scale, as_nv(act));
  } else {
    launch_pdl(cx, lora_decode_kernel<false, SWI>, dim3(grid), dim3(kDecodeThreads), 0, as_nv(y),
               as_nv(x), as_nv(A), as_nv(B), int(N), int(IN), int(R), int(OUT), scale, as_nv(act));
  }
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void lora_decode_cuda(cuda_context& cx, bf16* y, const bf16* x, const bf16* A, const bf16* B,
                      int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale) {
  launch_decode<false>(cx, "lora_decode_cuda", nullptr, y, x, A, B, N, IN, R, OUT, scale);
}

void lora_decode_swiglu_cuda(cuda_context& cx, bf16* act, bf16* y, const bf16* x, const bf16* A,
                             const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                             float scale) {
  launch_decode<true>(cx, "lora_decode_swiglu_cuda", act, y, x, A, B, N, IN, R, OUT, scale);
}
#endif  // KAITO_CUDA_EMULATE

}  // namespace kaito
