// NF4 GEMM for prefill/training with the weight dequantized per k-step, in registers, straight
// into tensor-core (mma.sync m16n8k16 bf16) fragments: out(N, OC) = inp(N, C) · dequant(W)ᵀ.
// Contract in kernels/nf4.h (nf4_gemm_mma_forward_cuda); tile knob in kernels/cuda/nf4_gemm_mma.h;
// CPU twin nf4_dequantize_cpu + gemm_forward_cpu. It competes with nf4_gemm_forward_cuda
// (dequantize the whole W to bf16 scratch, then cuBLASLt); bench/cuda/nf4_bench times both.
//
// Tiling: a block of 256 threads (8 warps, 2 along rows x 4 along OC) owns a BM x 128 output tile
// (BM = 128 or 256); each warp a BM/2 x 32 sub-tile = MT x 4 mma tiles. The k loop walks BK = 64 =
// one NF4 absmax block of every weight row (C % 64 == 0), so a weight row's k-tile has ONE absmax.
// Per k-tile and stage, cp.async brings (STAGES-deep ring, activation rows past N zero-filled):
//   A  BM x 64 bf16 activations, 16-byte chunks XOR-swizzled (nf4_mma_common.cuh a_offset);
//   Wq 128 weight rows x 32 packed bytes (4 KB), row-major as in global memory;
//   S  128 fp32 absmax (one per weight row of the tile).
// Compute: A fragments by ldmatrix.x4; B fragments built in registers: mma B element (k, n) is
// W[n][k], and lane (g = lane/4, t = lane%4) holds k = 2t, 2t+1 (b0) and 2t+8, 2t+9 (b1) of
// column g, i.e. packed byte 8*ks + t (b0) and 8*ks + t + 4 (b1) of the row's 32 bytes (even
// element = high nibble = low half of the bf16x2). Each byte becomes bf16x2(code[hi] * s,
// code[lo] * s), bit-identical to nf4_dequantize_cuda, so the result differs from dequant +
// cuBLASLt only in summation order. The two warps along rows each dequantize the same weight
// sub-tile (2x redundant ALU work, no shared-memory round trip, one __syncthreads per k-tile).
// Expected limit (inferred from counting, not measured): shared-memory wavefronts, per mma about
// 4/MT for the code-table lookups, 4/kNT for ldmatrix A and 2/MT for the packed bytes.
// Epilogue: fp32 accumulators rounded to bf16, stored as bf16x2 for rows < N.
#include <cuda_bf16.h>

#include <string>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/nf4_gemm_mma.h"
#include "kernels/cuda/nf4_mma_common.cuh"
#include "kernels/nf4.h"

namespace kaito {
namespace {

using namespace nf4_mma;

template <class S>
struct fwd_layout {
  static constexpr int WStageBytes = kBN * (kBK / 2);  // 4096
  static constexpr int SStageBytes = kBN * 4;          // 512
  static constexpr int StageBytes = S::AStageBytes + WStageBytes + SStageBytes;
  static constexpr int SmemBytes = S::STAGES * StageBytes;
  static_assert(S::AStageBytes % 128 == 0 && StageBytes % 16 == 0, "16-byte aligned sub-buffers");
  static_assert(SmemBytes <= 227 * 1024, "fits the H100/H200 per-block shared memory");
  static_assert(kBN * 2 == kThreads && kBN <= kThreads, "one Wq chunk per thread, S by kBN");
};

// Issues the cp.async copies of k-tile kt into one stage buffer (one commit group by the caller).
template <class S>
__device__ __forceinline__ void load_tile(unsigned char* stage, const __nv_bfloat16* inp,
                                          const uint8_t* packed, const float* absmax, int64_t m0,
                                          int64_t n0, int kt, int N, int C) {
  using L = fwd_layout<S>;
  const int tid = threadIdx.x;
  load_a_tile<S::BM>(reinterpret_cast<__nv_bfloat16*>(stage), inp, m0, kt, N, C);
  // Wq: 128 weight rows x 2 chunks of 16 packed bytes; 1 chunk per thread (OC % 128 == 0).
  {
    const int r = tid >> 1, c = tid & 1;
    // seek to packed byte (n0 + r) * C/2 + kt*32 + c*16
    const uint8_t* src = packed + (n0 + r) * int64_t(C / 2) + kt * (kBK / 2) + c * 16;
    cp_async16(smem_addr(stage + S::AStageBytes + r * (kBK / 2) + c * 16), src, 16);
  }
  // S: absmax of block (n0 + r) * C/64 + kt, one per weight row.
  if (tid < kBN) {
    float* Ss = reinterpret_cast<float*>(stage + S::AStageBytes + L::WStageBytes);
    cp_async4(smem_addr(Ss + tid), absmax + (n0 + tid) * int64_t(C / kBK) + kt);
  }
}

template <class S, int MIN_BLOCKS>
__global__ void __launch_bounds__(kThreads, MIN_BLOCKS)
    nf4_gemm_mma_kernel(__nv_bfloat16* out, const __nv_bfloat16* inp, const uint8_t* packed,
                        const float* absmax, int N, int C, int OC) {
  using L = fwd_layout<S>;
  constexpr int MT = S::MT, STAGES = S::STAGES;
  KAITO_DYNAMIC_SMEM(unsigned char, smem);
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = kCode[threadIdx.x];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int warp_m = warp / kWarpsN, warp_n = warp % kWarpsN;
  const int g = lane >> 2, t = lane & 3;
  const int64_t m0 = int64_t(blockIdx.y) * S::BM, n0 = int64_t(blockIdx.x) * kBN;
  const int KT = C / kBK;

  float acc[MT][kNT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {  // prologue: tiles 0 .. STAGES-2, one group each
    if (s < KT) load_tile<S>(smem + s * L::StageBytes, inp, packed, absmax, m0, n0, s, N, C);
    cp_async_commit();
  }
  __syncthreads();  // code[] visible

  const int shift = 8 * t;  // byte t of each packed word
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();  // tile kt has landed (this thread's copies)
    __syncthreads();              // ... and everybody's; stage (kt-1) % STAGES is free
    {
      const int nk = kt + STAGES - 1;
      if (nk < KT)
        load_tile<S>(smem + (nk % STAGES) * L::StageBytes, inp, packed, absmax, m0, n0, nk, N, C);
      cp_async_commit();
    }
    const unsigned char* stage = smem + (kt % STAGES) * L::StageBytes;
    const __nv_bfloat16* As = reinterpret_cast<const __nv_bfloat16*>(stage);
    const uint8_t* Ws = stage + S::AStageBytes;
    const float* Ss = reinterpret_cast<const float*>(stage + S::AStageBytes + L::WStageBytes);

    float sc[kNT];
    const uint8_t* wrow[kNT];
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
      const int r = warp_n * kWN + j * 8 + g;  // weight row of the tile = mma column g
      sc[j] = Ss[r];
      wrow[j] = Ws + r * (kBK / 2);
    }
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t a[MT][4];
      load_a_frags<MT>(a, As, warp_m * S::WM, ks, lane);
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        // bytes 8ks .. 8ks+7 of the row = words 2ks (k 16ks..16ks+7) and 2ks+1 (k +8..+15)
        const uint2 w = *reinterpret_cast<const uint2*>(wrow[j] + 8 * ks);
        const uint32_t b0 = dequant_pair(code, (w.x >> shift) & 0xffu, sc[j]);
        const uint32_t b1 = dequant_pair(code, (w.y >> shift) & 0xffu, sc[j]);
#pragma unroll
        for (int i = 0; i < MT; ++i) mma_16816(acc[i][j], a[i], b0, b1);
      }
    }
  }
  cp_async_wait<0>();
  store_acc<MT>(out, acc, m0 + warp_m * S::WM, n0 + warp_n * kWN, N, OC, lane);
}

// Host launchers; tests/cuda/nf4_mma_emulation_test.cpp compiles the kernels above for the CPU
// with KAITO_CUDA_EMULATE defined (no launchers, emulated PTX in nf4_mma_common.cuh).
#ifndef KAITO_CUDA_NO_LAUNCHERS
template <class S, int MIN_BLOCKS>
void launch_forward(cuda_context& cx, bf16* out, const bf16* inp, const uint8_t* packed,
                    const float* absmax, int64_t N, int64_t C, int64_t OC) {
  if (status st = check_mma_args("nf4_gemm_mma_forward_cuda", true, S::BM, out, inp, packed, absmax,
                                 N, C, OC);
      !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (N == 0) return;
  auto* kernel = nf4_gemm_mma_kernel<S, MIN_BLOCKS>;
  static std::atomic<uint64_t> opted_in{0};
  if (!opt_in_smem(cx, kernel, fwd_layout<S>::SmemBytes, opted_in)) return;
  const dim3 grid(unsigned(OC / kBN), unsigned(ceil_div<int64_t>(N, S::BM)));
  KAITO_LAUNCH(grid, kThreads, fwd_layout<S>::SmemBytes, cx.stream(), kernel)
  (as_nv(out), as_nv(inp), packed, absmax, int(N), int(C), int(OC));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

namespace detail {

const char* nf4_mma_tile_name(nf4_mma_tile t) {
  return t == nf4_mma_tile::m256 ? "m256" : "m128";
}

void nf4_gemm_mma_forward_tiled(cuda_context& cx, nf4_mma_tile tile, bf16* out, const bf16* inp,
                                const uint8_t* packed, const float* absmax, int64_t N, int64_t C,
                                int64_t OC) {
  if (tile == nf4_mma_tile::m256) {
    launch_forward<nf4_mma_shape<256, 3>, 1>(cx, out, inp, packed, absmax, N, C, OC);
  } else {
    launch_forward<nf4_mma_shape<128, 4>, 2>(cx, out, inp, packed, absmax, N, C, OC);
  }
}

}  // namespace detail

// launchers

status nf4_gemm_mma_forward_check(const bf16* out, const bf16* inp, const uint8_t* packed,
                                  const float* absmax, int64_t N, int64_t C, int64_t OC) {
  return nf4_mma::check_mma_args("nf4_gemm_mma_forward_cuda", true, nf4_mma_shape<128, 4>::BM, out,
                                 inp, packed, absmax, N, C, OC);
}

void nf4_gemm_mma_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const uint8_t* packed,
                               const float* absmax, int64_t N, int64_t C, int64_t OC) {
  detail::nf4_gemm_mma_forward_tiled(cx, detail::nf4_mma_tile::m128, out, inp, packed, absmax, N, C,
                                     OC);
}
#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
