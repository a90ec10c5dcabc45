// nf4_gemm_mma.h: the tile-shape knob of the fused NF4 tensor-core GEMMs, for the kernel lab
// (bench/cuda/nf4_bench) and the parity rows; engine code calls the kernels/nf4.h launchers
// (nf4_gemm_mma_forward_cuda, nf4_gemm_mma_backward_inp_cuda), which use nf4_mma_tile::m128.
// Same contract, preconditions and error recording as those launchers; only the tiling differs:
//   m128: block 128 rows x 128 columns, warp 64 x 32 (4 x 4 mma tiles), 4-stage cp.async ring,
//         <= 128 registers so 2 blocks (16 warps) share an SM;
//   m256: block 256 x 128, warp 128 x 32 (8 x 4 mma tiles): half the weight dequantization and
//         packed-byte reads per mma (B fragments reused by 8 m16 tiles instead of 4), 3 stages,
//         1 block (8 warps) per SM.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"

namespace kaito::detail {

enum class nf4_mma_tile { m128, m256 };

const char* nf4_mma_tile_name(nf4_mma_tile t);

void nf4_gemm_mma_forward_tiled(cuda_context& cx, nf4_mma_tile tile, bf16* out, const bf16* inp,
                                const uint8_t* packed, const float* absmax, int64_t N, int64_t C,
                                int64_t OC);
void nf4_gemm_mma_backward_inp_tiled(cuda_context& cx, nf4_mma_tile tile, bf16* dinp,
                                     const bf16* dout, const uint8_t* packed, const float* absmax,
                                     int64_t N, int64_t C, int64_t OC);

}  // namespace kaito::detail
