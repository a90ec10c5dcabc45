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
#include "kernels/cuda/rmsnorm_row.cuh"
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
  __shared__ float zs[kDecodeMaxRows * kDecodeMaxRank];
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

// lora_decode_add_rmsnorm_cuda: a block of kNormRowsPerBlock warps owns as many rows; it forms
// those rows' z = bf16(lx · Aᵀ) (lora_decode_z), adds the LoRA terms to b (add_lora_term over
// the rows' C columns, stored back), then each warp normalizes its row as add_rmsnorm does
// (rmsnorm_forward_row<Vec, Add = true>): bit for bit lora_decode then add_rmsnorm.
template <bool Vec, bool VecL>
__global__ void __launch_bounds__(kNormRowsPerBlock * 32)
    lora_add_rmsnorm_kernel(__nv_bfloat16* sum, __nv_bfloat16* out, float* rstd,
                            const __nv_bfloat16* a, __nv_bfloat16* b, const __nv_bfloat16* weight,
                            int64_t N, int C, float eps, const __nv_bfloat16* lx,
                            const __nv_bfloat16* A, const __nv_bfloat16* Bl, int IN, int R,
                            float scale) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  __shared__ float zs[kNormRowsPerBlock * kDecodeMaxRank];
  const int64_t row0 = int64_t(blockIdx.x) * kNormRowsPerBlock;
  const int rows = int(min(int64_t(kNormRowsPerBlock), N - row0));
  lora_decode_z<VecL>(zs, lx + row0 * IN, A, rows, IN, R);  // ends with __syncthreads
  for (int e = int(threadIdx.x); e < rows * C; e += int(blockDim.x)) {
    const int n = e / C, c = e % C;
    add_lora_term(b + (row0 + n) * C + c, Bl + int64_t(c) * R, zs + n * R, R, scale);
  }
  __syncthreads();  // the rows' b complete before any warp reads its row
  const int64_t row = row0 + (threadIdx.x >> 5);
  if (row >= N) return;
  rmsnorm_forward_row<Vec, true>(out, rstd, a, weight, row, C, eps, sum, b);
}

}  // namespace

#ifndef KAITO_CUDA_NO_LAUNCHERS
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

void lora_decode_add_rmsnorm_cuda(cuda_context& cx, bf16* sum, bf16* out, float* rstd,
                                  const bf16* a, bf16* b, const bf16* weight, int64_t N, int64_t C,
                                  float eps, const bf16* lx, const bf16* A, const bf16* Bl,
                                  int64_t IN, int64_t R, float scale) {
  KAITO_CHECK(N >= 0 && N <= kDecodeMaxRows && C > 0 && C <= INT32_MAX && IN > 0 &&
                  IN <= INT32_MAX && R > 0 && R <= kDecodeMaxRank && int64_t(C) * N <= INT32_MAX,
              "lora_decode_add_rmsnorm_cuda: bad shape N=", N, " C=", C, " IN=", IN, " R=", R);
  if (N == 0) return;
  // the vector conditions of add_rmsnorm_forward_cuda and lora_decode_cuda
  const bool vec = C % 8 == 0 && aligned16(out) && aligned16(sum) && aligned16(a) && aligned16(b) &&
                   aligned16(weight);
  const bool vec_l = IN % 8 == 0 && aligned16(lx) && aligned16(A);
  const auto kernel =
      vec ? (vec_l ? lora_add_rmsnorm_kernel<true, true> : lora_add_rmsnorm_kernel<true, false>)
          : (vec_l ? lora_add_rmsnorm_kernel<false, true> : lora_add_rmsnorm_kernel<false, false>);
  launch_pdl(cx, kernel, dim3(unsigned(ceil_div<int64_t>(N, kNormRowsPerBlock))),
             dim3(kNormRowsPerBlock * 32), 0, as_nv(sum), as_nv(out), rstd, as_nv(a), as_nv(b),
             as_nv(weight), N, int(C), eps, as_nv(lx), as_nv(A), as_nv(Bl), int(IN), int(R), scale);
  CUDA_CHECK(cudaGetLastError());
}

void lora_decode_swiglu_cuda(cuda_context& cx, bf16* act, bf16* y, const bf16* x, const bf16* A,
                             const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                             float scale) {
  launch_decode<true>(cx, "lora_decode_swiglu_cuda", act, y, x, A, B, N, IN, R, OUT, scale);
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
