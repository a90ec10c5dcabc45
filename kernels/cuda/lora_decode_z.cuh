// lora_decode_z.cuh: the two halves of a decode step's LoRA branch as device functions, shared
// by lora_decode_kernel (kernels/cuda/lora_decode.cu) and the decode kernels that fuse a LoRA
// term into their input (engine/cuda/infer_ops.cu), so every path rounds alike; internal.
//   lora_decode_z: z (N, R) = bf16(x · Aᵀ) into shared memory, one warp per (row, rank) pair,
//     lanes striding over IN (VEC: 8 bf16 per load: IN % 8 == 0 and x, A 16-byte aligned), a
//     shuffle reduction, fp32 math; every thread of the block must call it (it ends with
//     __syncthreads). N <= kDecodeMaxRows, R <= kDecodeMaxRank.
//   add_lora_term: y[o] += scale * sum_r B[o, r] * z[r] (fp32, r in order), rounded once to bf16
//     and stored; returns the stored value.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace kaito {

constexpr int kDecodeMaxRows = 16;
constexpr int kDecodeMaxRank = 64;

template <bool VEC>
__device__ __forceinline__ void lora_decode_z(float* zs, const __nv_bfloat16* x,
                                              const __nv_bfloat16* A, int N, int IN, int R) {
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int warps = int(blockDim.x) >> 5;
  for (int pair = warp; pair < N * R; pair += warps) {  // warp-uniform loop
    const int n = pair / R, r = pair % R;
    const __nv_bfloat16* xr = x + int64_t(n) * IN;
    const __nv_bfloat16* ar = A + int64_t(r) * IN;
    float acc = 0.0f;
    if constexpr (VEC) {
      for (int i = lane * 8; i < IN; i += 32 * 8) {
        const uint4 xv = *reinterpret_cast<const uint4*>(xr + i);
        const uint4 av = *reinterpret_cast<const uint4*>(ar + i);
        const __nv_bfloat162* xp = reinterpret_cast<const __nv_bfloat162*>(&xv);
        const __nv_bfloat162* ap = reinterpret_cast<const __nv_bfloat162*>(&av);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 xf = __bfloat1622float2(xp[j]), af = __bfloat1622float2(ap[j]);
          acc = fmaf(xf.x, af.x, acc);
          acc = fmaf(xf.y, af.y, acc);
        }
      }
    } else {
      for (int i = lane; i < IN; i += 32)
        acc = fmaf(__bfloat162float(xr[i]), __bfloat162float(ar[i]), acc);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) zs[pair] = __bfloat162float(__float2bfloat16_rn(acc));
  }
  __syncthreads();
}

__device__ __forceinline__ __nv_bfloat16 add_lora_term(__nv_bfloat16* yo, const __nv_bfloat16* br,
                                                       const float* zn, int R, float scale) {
  float acc = 0.0f;
  for (int r = 0; r < R; ++r) acc = fmaf(__bfloat162float(br[r]), zn[r], acc);
  const __nv_bfloat16 v = __float2bfloat16_rn(fmaf(scale, acc, __bfloat162float(*yo)));
  *yo = v;
  return v;
}

}  // namespace kaito
