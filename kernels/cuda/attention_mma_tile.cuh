// attention_mma_tile: what the tensor-core attention forward (attention_mma.cu) and backward
// (attention_mma_bwd.cu) share: 64-row bf16 tiles of a (B, T, H, HS) tensor in shared memory, one
// block of 4 warps (128 threads) per tile, rows padded to HS + 8 elements so the 8 rows of one
// ldmatrix land in 8 distinct 16-byte bank groups (HS = 64, 96, 128).
//   load_rows<HS>    cp.async of rows row0 .. row0+63 of one head into a padded tile; rows >= T
//                    are zero-filled (their source address stays at row 0 of the same sequence)
//   pack_bf16        two fp32 -> one bf16x2 register (an mma A/B fragment half), round to nearest
// PTX wrappers (and their CPU emulation for the tests) come from nf4_mma_common.cuh.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/nf4_mma_common.cuh"

namespace kaito::attn_mma {

constexpr int kTileRows = 64;  // rows (queries or keys) per tile
constexpr int kWarps = kTileRows / 16;
constexpr int kThreads = 32 * kWarps;

template <int HS>
struct tile {
  static constexpr int LD = HS + 8;      // padded row, elements
  static constexpr int Chunks = HS / 8;  // 16-byte chunks of a row
  static constexpr int Elems = kTileRows * LD;
  static_assert((kTileRows * Chunks) % kThreads == 0, "chunks split evenly over the threads");
};

template <int HS>
__device__ __forceinline__ void load_rows(__nv_bfloat16* dst, const __nv_bfloat16* src, int b,
                                          int row0, int head, int H, int T) {
  using L = tile<HS>;
#pragma unroll
  for (int i = 0; i < kTileRows * L::Chunks / kThreads; ++i) {
    const int id = threadIdx.x + i * kThreads;
    const int r = id / L::Chunks, c = id % L::Chunks;
    const int row = row0 + r;
    const bool ok = row < T;
    const __nv_bfloat16* p = src + ((int64_t(b) * T + (ok ? row : 0)) * H + head) * HS + c * 8;
    nf4_mma::cp_async16(nf4_mma::smem_addr(dst + r * L::LD + c * 8), p, ok ? 16 : 0);
  }
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

}  // namespace kaito::attn_mma
