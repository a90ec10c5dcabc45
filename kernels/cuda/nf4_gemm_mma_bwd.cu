// Backward through a frozen NF4 weight on the tensor cores: dinp(N, C) = dout(N, OC) · dequant(W).
// Contract in kernels/nf4.h (nf4_gemm_mma_backward_inp_cuda); tile knob in
// kernels/cuda/nf4_gemm_mma.h; CPU twin nf4_gemm_backward_inp_cpu. It competes with
// nf4_gemm_backward_inp_cuda (dequantize to scratch, then cuBLASLt).
//
// GEMM with k = OC and output columns = C. mma B element (k, n) = W[o0 + k][c0 + n]: a B register
// pairs two weight ROWS, so (unlike the forward) the weight tile is dequantized ONCE per k-tile
// into shared memory as bf16 Bs[64 o][128 c] (16-byte chunks XOR-swizzled by (o & 7)) and read
// with ldmatrix.x4.trans, which hands lane (g, t) the pair (k = 2t, 2t+1; n = g) = b0 directly.
// Per k-tile and stage (cp.async ring as the forward): A = dout BM x 64 bf16 (zero-filled past N),
// Wq = 64 weight rows x 64 packed bytes (columns c0 .. c0+127), S = 2 absmax per weight row (the
// two 64-element blocks those columns span; (o*C + c0) is a multiple of 64). Bs is
// single-buffered: two __syncthreads per k-tile. Requires OC % 64 == 0 and C % 128 == 0.
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
struct bwd_layout {
  static constexpr int WStageBytes = kBK * (kBN / 2);  // 64 rows x 64 packed bytes
  static constexpr int SStageBytes = kBK * 2 * 4;      // 2 absmax per row
  static constexpr int StageBytes = S::AStageBytes + WStageBytes + SStageBytes;
  static constexpr int BsBytes = kBK * kBN * 2;  // bf16 [64][128]
  static constexpr int SmemBytes = S::STAGES * StageBytes + BsBytes;
  static_assert(StageBytes % 16 == 0, "16-byte aligned sub-buffers");
  static_assert(SmemBytes <= 227 * 1024, "fits the H100/H200 per-block shared memory");
  static_assert(kBK * 4 == kThreads, "one Wq chunk and one dequantized 16-byte group per thread");
};

// Element offset of 16-byte chunk `chunk` (0..15) of Bs row `row` (swizzled within 8-groups).
__device__ __forceinline__ int bs_offset(int row, int chunk) {
  return row * kBN + ((chunk ^ (row & 7)) << 3);
}

template <class S>
__device__ __forceinline__ void load_tile(unsigned char* stage, const __nv_bfloat16* dout,
                                          const uint8_t* packed, const float* absmax, int64_t m0,
                                          int64_t c0, int kt, int N, int C, int OC) {
  using L = bwd_layout<S>;
  const int tid = threadIdx.x;
  load_a_tile<S::BM>(reinterpret_cast<__nv_bfloat16*>(stage), dout, m0, kt, N, OC);
  // Wq: weight row o = kt*64 + r, packed bytes (o*C + c0)/2 + 16q .. +15; 1 chunk per thread.
  {
    const int r = tid >> 2, q = tid & 3;
    const uint8_t* src = packed + (int64_t(kt) * kBK + r) * int64_t(C / 2) + c0 / 2 + q * 16;
    cp_async16(smem_addr(stage + S::AStageBytes + r * (kBN / 2) + q * 16), src, 16);
  }
  // S: absmax blocks o*C/64 + c0/64 + h, h = 0, 1 (two 4-byte copies per row).
  if (tid < 2 * kBK) {
    const int r = tid >> 1, h = tid & 1;
    float* Ss = reinterpret_cast<float*>(stage + S::AStageBytes + L::WStageBytes);
    cp_async4(smem_addr(Ss + tid),
              absmax + (int64_t(kt) * kBK + r) * int64_t(C / kBK) + c0 / kBK + h);
  }
}

template <class S, int MIN_BLOCKS>
__global__ void __launch_bounds__(kThreads, MIN_BLOCKS)
    nf4_gemm_mma_bwd_kernel(__nv_bfloat16* dinp, const __nv_bfloat16* dout, const uint8_t* packed,
                            const float* absmax, int N, int C, int OC) {
  using L = bwd_layout<S>;
  constexpr int MT = S::MT, STAGES = S::STAGES;
  KAITO_DYNAMIC_SMEM(unsigned char, smem);
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = kCode[threadIdx.x];
  __nv_bfloat16* Bs = reinterpret_cast<__nv_bfloat16*>(smem + STAGES * L::StageBytes);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int warp_m = warp / kWarpsN, warp_n = warp % kWarpsN;
  const int64_t m0 = int64_t(blockIdx.y) * S::BM, c0 = int64_t(blockIdx.x) * kBN;
  const int KT = OC / kBK;

  float acc[MT][kNT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {  // prologue: tiles 0 .. STAGES-2, one group each
    if (s < KT) load_tile<S>(smem + s * L::StageBytes, dout, packed, absmax, m0, c0, s, N, C, OC);
    cp_async_commit();
  }
  __syncthreads();  // code[] visible

  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();  // tile kt has landed (this thread's copies)
    __syncthreads();              // everybody's; stage (kt-1) % STAGES and Bs are no longer read
    {
      const int nk = kt + STAGES - 1;
      if (nk < KT)
        load_tile<S>(smem + (nk % STAGES) * L::StageBytes, dout, packed, absmax, m0, c0, nk, N, C,
                     OC);
      cp_async_commit();
    }
    const unsigned char* stage = smem + (kt % STAGES) * L::StageBytes;
    const __nv_bfloat16* As = reinterpret_cast<const __nv_bfloat16*>(stage);
    {  // dequantize: thread -> weight row r = tid/4, packed bytes 16q .. 16q+15 = columns
       // 32q .. 32q+31 (one absmax block: 32q / 64 = q / 2) -> Bs chunks 4q .. 4q+3 of row r
      const int r = tid >> 2, q = tid & 3;
      const uint4 w =
          *reinterpret_cast<const uint4*>(stage + S::AStageBytes + r * (kBN / 2) + q * 16);
      const float s =
          reinterpret_cast<const float*>(stage + S::AStageBytes + L::WStageBytes)[r * 2 + (q >> 1)];
      const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
      for (int u = 0; u < 4; ++u) {  // word u = packed bytes 4u .. 4u+3 = 8 columns = one chunk
        uint4 o;  // little-endian: byte b of the word = columns 32q + 8u + 2b, +1
        o.x = dequant_pair(code, words[u] & 0xffu, s);
        o.y = dequant_pair(code, (words[u] >> 8) & 0xffu, s);
        o.z = dequant_pair(code, (words[u] >> 16) & 0xffu, s);
        o.w = dequant_pair(code, words[u] >> 24, s);
        *reinterpret_cast<uint4*>(Bs + bs_offset(r, 4 * q + u)) = o;
      }
    }
    __syncthreads();  // Bs complete
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t a[MT][4];
      load_a_frags<MT>(a, As, warp_m * S::WM, ks, lane);
#pragma unroll
      for (int jp = 0; jp < kNT; jp += 2) {
        // matrices: (k 0-7, n tile jp), (k 8-15, jp), (k 0-7, jp+1), (k 8-15, jp+1); lane l
        // addresses row k = 16ks + (l & 7) + 8 * ((l >> 3) & 1) of n-chunk warp_n*4 + jp + (l >> 4)
        const int k = ks * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
        const int chunk = warp_n * (kWN / 8) + jp + (lane >> 4);
        uint32_t b[4];
        ldmatrix_x4_trans(b, smem_addr(Bs + bs_offset(k, chunk)));
#pragma unroll
        for (int i = 0; i < MT; ++i) {
          mma_16816(acc[i][jp], a[i], b[0], b[1]);
          mma_16816(acc[i][jp + 1], a[i], b[2], b[3]);
        }
      }
    }
  }
  cp_async_wait<0>();
  store_acc<MT>(dinp, acc, m0 + warp_m * S::WM, c0 + warp_n * kWN, N, C, lane);
}

// Host launchers; tests/cuda/nf4_mma_emulation_test.cpp compiles the kernels above for the CPU
// with KAITO_CUDA_EMULATE defined (no launchers, emulated PTX in nf4_mma_common.cuh).
#ifndef KAITO_CUDA_NO_LAUNCHERS
template <class S, int MIN_BLOCKS>
void launch_backward(cuda_context& cx, bf16* dinp, const bf16* dout, const uint8_t* packed,
                     const float* absmax, int64_t N, int64_t C, int64_t OC) {
  if (status st = check_mma_args("nf4_gemm_mma_backward_inp_cuda", false, S::BM, dinp, dout, packed,
                                 absmax, N, C, OC);
      !st.ok()) {
    cx.record_error(std::move(st));
    return;
  }
  if (N == 0) return;
  auto* kernel = nf4_gemm_mma_bwd_kernel<S, MIN_BLOCKS>;
  static std::atomic<uint64_t> opted_in{0};
  if (!opt_in_smem(cx, kernel, bwd_layout<S>::SmemBytes, opted_in)) return;
  const dim3 grid(unsigned(C / kBN), unsigned(ceil_div<int64_t>(N, S::BM)));
  KAITO_LAUNCH(grid, kThreads, bwd_layout<S>::SmemBytes, cx.stream(), kernel)
  (as_nv(dinp), as_nv(dout), packed, absmax, int(N), int(C), int(OC));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

namespace detail {

void nf4_gemm_mma_backward_inp_tiled(cuda_context& cx, nf4_mma_tile tile, bf16* dinp,
                                     const bf16* dout, const uint8_t* packed, const float* absmax,
                                     int64_t N, int64_t C, int64_t OC) {
  if (tile == nf4_mma_tile::m256) {
    launch_backward<nf4_mma_shape<256, 3>, 1>(cx, dinp, dout, packed, absmax, N, C, OC);
  } else {
    launch_backward<nf4_mma_shape<128, 4>, 2>(cx, dinp, dout, packed, absmax, N, C, OC);
  }
}

}  // namespace detail

// launchers

status nf4_gemm_mma_backward_inp_check(const bf16* dinp, const bf16* dout, const uint8_t* packed,
                                       const float* absmax, int64_t N, int64_t C, int64_t OC) {
  return nf4_mma::check_mma_args("nf4_gemm_mma_backward_inp_cuda", false, nf4_mma_shape<128, 4>::BM,
                                 dinp, dout, packed, absmax, N, C, OC);
}

void nf4_gemm_mma_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout,
                                    const uint8_t* packed, const float* absmax, int64_t N,
                                    int64_t C, int64_t OC) {
  detail::nf4_gemm_mma_backward_inp_tiled(cx, detail::nf4_mma_tile::m128, dinp, dout, packed,
                                          absmax, N, C, OC);
}
#else
}  // namespace
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
