// rope_pair.cuh: the one per-pair RoPE step (kernels/rope.h's formulas) shared by rope.cu and the
// decoder's fused split + rope + cache kernel (engine/cuda/infer_ops.cu), which must agree bit for
// bit. A head of HS dims, the first RD of them rotary, is walked as HS/2 dim pairs:
//   j < RD/2:  (j, j + RD/2), rotated with table row c, s (RD entries each);
//   else:      (RD + 2k, RD + 2k + 1), k = j - RD/2: partial rotary's pass-through dims.
// So every dim of the head belongs to exactly one pair, with or without partial rotary.
#pragma once

#include <cuda_runtime.h>

namespace kaito {

struct rope_pair {
  int d1, d2;
  bool rotate;
};

__host__ __device__ __forceinline__ rope_pair rope_pair_dims(int j, int RD) {
  const int H = RD / 2;
  if (j < H) return {j, j + H, true};
  const int k = j - H;
  return {RD + 2 * k, RD + 2 * k + 1, false};
}

// out[j] = x1 cos[j] - x2 sin[j], out[j + H] = x2 cos[j + H] + x1 sin[j + H]   (H = RD/2)
__device__ __forceinline__ float2 rope_rotate(float x1, float x2, const float* c, const float* s,
                                              int j, int RD) {
  const int H = RD / 2;
  return make_float2(x1 * c[j] - x2 * s[j], x2 * c[j + H] + x1 * s[j + H]);
}

// The transpose (rotation by -angle).
__device__ __forceinline__ float2 rope_unrotate(float g1, float g2, const float* c, const float* s,
                                                int j, int RD) {
  const int H = RD / 2;
  return make_float2(g1 * c[j] + g2 * s[j + H], g2 * c[j + H] - g1 * s[j]);
}

}  // namespace kaito
