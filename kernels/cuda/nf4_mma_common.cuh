// nf4_mma_common.cuh: device pieces shared by the fused NF4 tensor-core GEMMs
// (nf4_gemm_mma.cu forward, nf4_gemm_mma_bwd.cu backward-input); internal to kernels/cuda/.
//   tile shape: nf4_mma_shape<BM, STAGES> (block BM x 128 outputs, 8 warps as 2 x 4, k-tile 64 =
//               one NF4 absmax block), derived warp tiling and stage sizes;
//   PTX wrappers: cp.async (16-byte with zero-fill, 4-byte), commit/wait, ldmatrix (.trans),
//               mma.sync m16n8k16 bf16 -> fp32, prmt (byte permute; also the decode GEMV's);
//   dequant_pair: one packed byte -> bf16x2 (code[hi] * s, code[lo] * s), the fp32 product rounded
//               to nearest even exactly as nf4_dequantize_cuda;
//   a_offset:   XOR-swizzled element offset in a (rows x 64) bf16 stage tile (16-byte chunks
//               permuted by row & 7, so ldmatrix's 8 rows of one chunk column hit 8 bank groups);
//   opt_in_smem: the once-per-device cudaFuncAttributeMaxDynamicSharedMemorySize opt-in.
// With KAITO_CUDA_EMULATE (tests/cuda/cuda_emulation.h) the PTX wrappers are left to the test.
#pragma once

#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/nf4.h"

namespace kaito::nf4_mma {

constexpr int kBN = 128;  // output columns per block
constexpr int kBK = 64;   // k per tile: one absmax block along C (fwd), 64 weight rows (bwd)
constexpr int kThreads = 256;
constexpr int kWarpsM = 2, kWarpsN = 4;
constexpr int kWN = kBN / kWarpsN;  // 32
constexpr int kNT = kWN / 8;        // 4 n8 tiles per warp
static_assert(kWarpsM * kWarpsN * 32 == kThreads, "8 warps");

template <int BM_, int STAGES_>
struct nf4_mma_shape {
  static constexpr int BM = BM_;          // rows of the activation / output per block
  static constexpr int STAGES = STAGES_;  // cp.async ring depth
  static constexpr int WM = BM / kWarpsM;
  static constexpr int MT = WM / 16;  // m16 tiles per warp
  static constexpr int AStageBytes = BM * kBK * 2;
  static_assert(BM % 32 == 0 && (BM * kBK / 8) % kThreads == 0, "A chunks split evenly");
};

// The NF4 code table (kernels/nf4.h nf4_code), copied to shared memory by every block. Internal
// linkage: each including translation unit has its own copy.
namespace {
__constant__ float kCode[16] = {nf4_code[0],  nf4_code[1],  nf4_code[2],  nf4_code[3],
                                nf4_code[4],  nf4_code[5],  nf4_code[6],  nf4_code[7],
                                nf4_code[8],  nf4_code[9],  nf4_code[10], nf4_code[11],
                                nf4_code[12], nf4_code[13], nf4_code[14], nf4_code[15]};
}  // namespace

#ifndef KAITO_CUDA_EMULATE  // (the CPU emulation test defines these itself)
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy; src_bytes 0 zero-fills the destination (rows past N).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// c += a · b (m16n8k16, bf16 in, fp32 accumulate); fragment layouts as in the PTX ISA.
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// prmt.b32 (default mode): byte n of the result = byte s<4n+2:4n> of {b, a} (a = bytes 0..3), or,
// when s<4n+3> is set, that byte's sign bit replicated (0x00 / 0xff). Unlike __byte_perm, no
// masking of the selector is added: callers pass nibbles <= 7 where they want plain selection.
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t s) {
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(s));
  return d;
}
#endif  // KAITO_CUDA_EMULATE

// bf16x2 of one packed byte: low half = element 2j (high nibble), high half = element 2j+1.
__device__ __forceinline__ uint32_t dequant_pair(const float* code, uint32_t byte, float s) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(code[byte >> 4] * s, code[byte & 15u] * s);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Element offset of 16-byte chunk `chunk` (0..7) of row `row` of a (rows x 64) bf16 tile.
__device__ __forceinline__ int a_offset(int row, int chunk) {
  return row * kBK + ((chunk ^ (row & 7)) << 3);
}

// Loads A-tile k-tile kt: rows m0 .. m0+BM-1 of a row-major (N, ld) bf16 matrix, columns
// kt*64 .. kt*64+63, into a swizzled stage tile; rows past N are zero-filled.
template <int BM>
__device__ __forceinline__ void load_a_tile(__nv_bfloat16* As, const __nv_bfloat16* a, int64_t m0,
                                            int kt, int N, int64_t ld) {
#pragma unroll
  for (int i = 0; i < (BM * kBK / 8) / kThreads; ++i) {
    const int id = threadIdx.x + i * kThreads;
    const int r = id >> 3, c = id & 7;
    const int64_t row = m0 + r;
    const bool ok = row < N;
    // seek to a[row, kt*64 + c*8] (row 0 as a valid address when zero-filling)
    const __nv_bfloat16* src = a + (ok ? row : 0) * ld + kt * kBK + c * 8;
    cp_async16(smem_addr(As + a_offset(r, c)), src, ok ? 16 : 0);
  }
}

// A fragments of the warp's MT m16 tiles for k16 step ks (ldmatrix.x4: lane l addresses row
// l & 15 of the m16 tile, chunk 2*ks + (l >> 4); registers = rows 0-7/8-15 x k 0-7/8-15).
template <int MT>
__device__ __forceinline__ void load_a_frags(uint32_t (&a)[MT][4], const __nv_bfloat16* As,
                                             int row0, int ks, int lane) {
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    const int r = row0 + i * 16 + (lane & 15);
    ldmatrix_x4(a[i], smem_addr(As + a_offset(r, 2 * ks + (lane >> 4))));
  }
}

// Stores the warp's accumulators as bf16: tile (i, j) c0, c1 = (row g, cols 2t, 2t+1), c2, c3 =
// (row g+8, same cols); rows >= N are skipped. out is (N, ld) row-major.
template <int MT>
__device__ __forceinline__ void store_acc(__nv_bfloat16* out, const float (&acc)[MT][kNT][4],
                                          int64_t row0, int64_t col0, int N, int64_t ld, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    const int64_t r0 = row0 + i * 16 + g, r1 = r0 + 8;
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
      const int64_t col = col0 + j * 8 + 2 * t;
      if (r0 < N)
        *reinterpret_cast<__nv_bfloat162*>(out + r0 * ld + col) =
            __floats2bfloat162_rn(acc[i][j][0], acc[i][j][1]);
      if (r1 < N)
        *reinterpret_cast<__nv_bfloat162*>(out + r1 * ld + col) =
            __floats2bfloat162_rn(acc[i][j][2], acc[i][j][3]);
    }
  }
}

inline bool aligned4(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 3u) == 0;
}

// Above 48 KB of dynamic shared memory a kernel must opt in, once per device (kept out of any
// later stream capture: the first call sets it; devices >= 64 set it on every call). False (error
// recorded in cx) when the attribute cannot be set.
template <class Kernel>
bool opt_in_smem(cuda_context& cx, Kernel* kernel, int bytes, std::atomic<uint64_t>& opted_in) {
  const uint64_t bit = cx.device() < 64 ? uint64_t(1) << cx.device() : 0;
  if (bit != 0 && (opted_in.load() & bit) != 0) return true;
  const cudaError_t e =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e != cudaSuccess) {
    cx.record_error(cuda_error_status(e, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)",
                                      __FILE__, __LINE__));
    return false;
  }
  opted_in.fetch_or(bit);
  return true;
}

// The launchers' preconditions (kernels/nf4.h), shared by both directions and by
// nf4_gemm_mma_*_check. Forward (out = inp · Wᵀ): C % kBK == 0, OC % kBN == 0; backward-input
// (dinp = dout · W): C % kBN == 0, OC % kBK == 0. Both: 0 <= N <= 65535 * bm, the activation input
// and the packed codes 16-byte aligned, the output and absmax 4-byte aligned.
inline status check_mma_args(const char* fn, bool forward, int64_t bm, const void* out,
                             const void* in, const void* packed, const void* absmax, int64_t N,
                             int64_t C, int64_t OC) {
  const int64_t c_div = forward ? kBK : kBN, oc_div = forward ? kBN : kBK;
  const bool shape_ok = N >= 0 && N <= int64_t(65535) * bm && C > 0 && C % c_div == 0 &&
                        C <= INT32_MAX && OC > 0 && OC % oc_div == 0 && OC <= INT32_MAX;
  const bool align_ok = aligned16(in) && aligned16(packed) && aligned4(out) && aligned4(absmax);
  if (shape_ok && align_ok) return {};  // the common case builds no strings
  const std::string shape =
      " (N=" + std::to_string(N) + " C=" + std::to_string(C) + " OC=" + std::to_string(OC) + ")";
  if (!shape_ok)
    return invalid_argument(std::string(fn) + ": needs 0 <= N <= 65535*" + std::to_string(bm) +
                            ", C % " + std::to_string(c_div) + " == 0, OC % " +
                            std::to_string(oc_div) + " == 0" + shape);
  return invalid_argument(std::string(fn) + ": " + (forward ? "inp" : "dout") +
                          " and packed must be 16-byte aligned, " + (forward ? "out" : "dinp") +
                          " and absmax 4-byte aligned" + shape);
}

}  // namespace kaito::nf4_mma
