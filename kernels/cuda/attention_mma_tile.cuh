// attention_mma_tile: what the tensor-core attention forward (attention_mma.cu) and backward
// (attention_mma_bwd.cu) share: 64-row bf16 tiles of a (B, T, H, HS) tensor in shared memory, one
// block of 4 warps (128 threads) per tile, rows padded to HS + 8 elements so the 8 rows of one
// ldmatrix land in 8 distinct 16-byte bank groups (HS = 64, 96, 128).
//   load_tile<HS>    cp.async of 64 rows into a padded tile, each row's address from a callable;
//                    rows >= T are zero-filled
//   load_rows<HS>    load_tile of rows row0 .. row0+63 of one head of a (B, T, H, HS) tensor
//   load_cache_rows<HS>  the same for key positions of one cache slot (kv_pages.cuh kv_cache_row:
//                    a paged pool's blocks, or contiguous slots); positions >= Tk zero-filled
//   pack_bf16        two fp32 -> one bf16x2 register (an mma A/B fragment half), round to nearest
//   check_shape      (host) the shapes both launchers take; invalid_argument naming the launcher
// PTX wrappers (and their CPU emulation for the tests) come from nf4_mma_common.cuh.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "base/status.h"
#include "kernels/attention.h"
#include "kernels/cuda/kv_pages.cuh"
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

// cp.async of rows row0 .. row0+63 into a padded tile: row `row` (< T) from row_ptr(row), its
// head's HS elements; rows >= T zero-filled (their source address stays at row_ptr(0)).
template <int HS, class RowPtr>
__device__ __forceinline__ void load_tile(__nv_bfloat16* dst, int row0, int T, RowPtr row_ptr) {
  using L = tile<HS>;
#pragma unroll
  for (int i = 0; i < kTileRows * L::Chunks / kThreads; ++i) {
    const int id = threadIdx.x + i * kThreads;
    const int r = id / L::Chunks, c = id % L::Chunks;
    const int row = row0 + r;
    const bool ok = row < T;
    const __nv_bfloat16* p = row_ptr(ok ? row : 0) + c * 8;
    nf4_mma::cp_async16(nf4_mma::smem_addr(dst + r * L::LD + c * 8), p, ok ? 16 : 0);
  }
}

template <int HS>
__device__ __forceinline__ void load_rows(__nv_bfloat16* dst, const __nv_bfloat16* src, int b,
                                          int row0, int head, int H, int T) {
  load_tile<HS>(dst, row0, T,
                [=](int row) { return src + ((int64_t(b) * T + row) * H + head) * HS; });
}

template <int HS>
__device__ __forceinline__ void load_cache_rows(__nv_bfloat16* dst, const __nv_bfloat16* cache,
                                                const kv_page_map& m, int slot, int row0, int head,
                                                int H, int Tk) {
  load_tile<HS>(dst, row0, Tk,
                [&](int row) { return cache + (kv_cache_row(m, slot, row) * H + head) * HS; });
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// HS 64, 96 or 128; NH a multiple of NKV; B, NH <= 65535 (grid dimensions); T and the window
// within int range.
inline status check_shape(const char* fn, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                          int64_t window) {
  if (B < 0 || T < 0 || NH <= 0 || NKV <= 0 || NH % NKV != 0 || window < 0 || T > INT32_MAX / 2 ||
      B > 65535 || NH > 65535 || !attention_mma_head_size(HS))
    return invalid_argument(std::string(fn) +
                                ": unsupported shape (HS must be 64, 96 or 128; NH % NKV == 0; B, "
                                "NH <= 65535) (B=" +
                                std::to_string(B) + " T=" + std::to_string(T) +
                                " NH=" + std::to_string(NH) + " NKV=" + std::to_string(NKV) +
                                " HS=" + std::to_string(HS) + ")",
                            "HS");
  return {};
}

}  // namespace kaito::attn_mma
