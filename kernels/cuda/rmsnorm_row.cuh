// rmsnorm_row.cuh: one row of the RMSNorm forward by one warp (rmsnorm_forward_kernel,
// kernels/cuda/rmsnorm.cu), shared with the decode kernel that adds a LoRA term first
// (lora_decode_add_rmsnorm_cuda, kernels/cuda/lora_decode.cu) so both round alike; internal.
// bf16 data, fp32 math; Vec: 16-byte loads (C % 8 == 0, every pointer 16-byte aligned).
// Add: the row is first formed as sum = bf16(inp + add) (add_bf16's rounding), stored to `sum`,
// and normalized from the stored values: bit for bit the unfused add, then the norm. Each lane
// reads back only the elements it wrote itself, so no synchronization is needed.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace kaito {

constexpr int kNormRowsPerBlock = 8;  // warps per block, one row each

template <bool Vec, bool Add>
__device__ __forceinline__ void rmsnorm_forward_row(__nv_bfloat16* out, float* rstd,
                                                    const __nv_bfloat16* inp,
                                                    const __nv_bfloat16* weight, int64_t row, int C,
                                                    float eps, __nv_bfloat16* sum,
                                                    const __nv_bfloat16* add) {
  const int lane = threadIdx.x & 31;
  const __nv_bfloat16* x = inp + row * C;  // seek to inp[row, :]
  __nv_bfloat16* y = out + row * C;
  float ss = 0.0f;
  if constexpr (Add) {
    const __nv_bfloat16* a2 = add + row * C;
    __nv_bfloat16* srow = sum + row * C;
    if constexpr (Vec) {
      for (int c = lane * 8; c < C; c += 256) {
        float f[8], g[8];
        load8_bf16(f, x + c);
        load8_bf16(g, a2 + c);
#pragma unroll
        for (int i = 0; i < 8; ++i) {  // the rounded sum, as the unfused norm would read it
          f[i] = __bfloat162float(__float2bfloat16_rn(f[i] + g[i]));
          ss += f[i] * f[i];
        }
        store8_bf16(srow + c, f);
      }
    } else {
      for (int c = lane; c < C; c += 32) {
        const __nv_bfloat16 v =
            __float2bfloat16_rn(__bfloat162float(x[c]) + __bfloat162float(a2[c]));
        srow[c] = v;
        const float fv = __bfloat162float(v);
        ss += fv * fv;
      }
    }
    x = srow;  // the normalization below reads the stored sum
  } else if constexpr (Vec) {
    for (int c = lane * 8; c < C; c += 256) {
      float f[8];
      load8_bf16(f, x + c);
#pragma unroll
      for (int i = 0; i < 8; ++i) ss += f[i] * f[i];
    }
  } else {
    for (int c = lane; c < C; c += 32) {
      const float v = __bfloat162float(x[c]);
      ss += v * v;
    }
  }
  ss = warp_reduce_sum(ss);
  const float r = rsqrtf(ss / float(C) + eps);
  if (lane == 0 && rstd != nullptr) rstd[row] = r;
  // HF order: (x * rstd) rounded to the data dtype, then times weight, rounded again.
  if constexpr (Vec) {
    for (int c = lane * 8; c < C; c += 256) {
      float f[8], w[8];
      load8_bf16(f, x + c);
      load8_bf16(w, weight + c);
#pragma unroll
      for (int i = 0; i < 8; ++i) f[i] = w[i] * __bfloat162float(__float2bfloat16_rn(f[i] * r));
      store8_bf16(y + c, f);
    }
  } else {
    for (int c = lane; c < C; c += 32) {
      const float n = __bfloat162float(__float2bfloat16_rn(__bfloat162float(x[c]) * r));
      y[c] = __float2bfloat16_rn(n * __bfloat162float(weight[c]));
    }
  }
}

}  // namespace kaito
