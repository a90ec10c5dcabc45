// NF4 dequantization on the GPU; contract and CPU twin: kernels/nf4.{h,cpp} (bitsandbytes layout:
// blocks of 64 elements, even element in the high nibble, one fp32 absmax per block).
//   nf4_dequantize_cuda: w = bf16_rn(code[q] * absmax[i/64]) (fp32 product: bit-identical to
//     nf4_dequantize_bf16_cpu). Vector path: units of 4 packed bytes -> 8 bf16 (one 16-byte store),
//     coalesced across the warp, 4 units in flight per thread; scalar path for the tail.
//     H200 (bench/cuda/nf4_bench, N=2048 x 3072 x 3072): dequant + cuBLASLt took 10.8 us more than
//     cuBLASLt alone with v1 (one thread per 16 bytes, four 16-byte stores), 3.1 us with this v2.
//   nf4_absmax_dequantize_cuda: absmax[b] = code8[q[b]] * nested[b/256] + offset (no FMA).
//   nf4_gemm_forward_cuda / nf4_gemm_backward_inp_cuda: dequantize to arena scratch, then cuBLASLt.
// The fused decode GEMV lives in nf4_gemv.cu.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/nf4.h"

namespace kaito {
namespace {

struct nf4_lut {
  float v[16];
};

nf4_lut make_lut() {
  nf4_lut l{};
  for (int i = 0; i < 16; ++i) l.v[i] = nf4_code[i];
  return l;
}

// Elements [0, n8): unit i = packed bytes [4i, 4i+4) = elements [8i, 8i+8) (one absmax block per
// 8 units). A warp loads 128 contiguous bytes and stores 512 contiguous bytes per unit; each thread
// takes kUnits units strided by the grid so their loads are in flight together.
constexpr int kUnits = 4;

__global__ void nf4_dequantize_vec_kernel(__nv_bfloat16* out, const uint8_t* packed,
                                          const float* absmax, int64_t units, nf4_lut lut) {
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = lut.v[threadIdx.x];
  __syncthreads();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t q[kUnits];
  float s[kUnits];
#pragma unroll
  for (int k = 0; k < kUnits; ++k) {
    const int64_t i = first + k * stride;
    q[k] = i < units ? __ldcs(reinterpret_cast<const uint32_t*>(packed) + i) : 0u;
    s[k] = i < units ? absmax[i >> 3] : 0.0f;  // (8 i) / 64
  }
#pragma unroll
  for (int k = 0; k < kUnits; ++k) {
    const int64_t i = first + k * stride;
    if (i >= units) break;
    uint4 o;
    uint32_t* ov = reinterpret_cast<uint32_t*>(&o);
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const uint32_t byte = (q[k] >> (8 * b)) & 0xffu;  // little-endian: byte 4i+b
      const __nv_bfloat162 h =
          __floats2bfloat162_rn(code[byte >> 4] * s[k], code[byte & 15u] * s[k]);
      ov[b] = *reinterpret_cast<const uint32_t*>(&h);
    }
    reinterpret_cast<uint4*>(out)[i] = o;
  }
}

// Elements [first, n), one thread each.
__global__ void nf4_dequantize_scalar_kernel(__nv_bfloat16* out, const uint8_t* packed,
                                             const float* absmax, int64_t first, int64_t n,
                                             nf4_lut lut) {
  const int64_t i = first + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint8_t byte = packed[i >> 1];
  const uint32_t q = (i & 1) ? (byte & 15u) : (byte >> 4);
  out[i] = __float2bfloat16_rn(lut.v[q] * absmax[i >> 6]);
}

__global__ void nf4_absmax_dequantize_kernel(float* absmax, const uint8_t* qabsmax,
                                             const float* code8, const float* nested_absmax,
                                             float offset, int64_t nblocks) {
  const int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= nblocks) return;
  // Two fp32 roundings, no contraction into an FMA (as torch: dequantize_blockwise, then +=
  // offset).
  absmax[b] = __fadd_rn(__fmul_rn(code8[qabsmax[b]], nested_absmax[b >> 8]), offset);
}

}  // namespace

// launchers

void nf4_dequantize_cuda(cuda_context& cx, bf16* out, const uint8_t* packed, const float* absmax,
                         int64_t n) {
  KAITO_CHECK(n >= 0, "nf4_dequantize_cuda: n=", n);
  if (n == 0) return;
  const nf4_lut lut = make_lut();
  int64_t first = 0;
  if (aligned16(out) && aligned16(packed)) {
    const int64_t units = n / 8;
    if (units > 0) {
      const int64_t threads = ceil_div<int64_t>(units, kUnits);
      KAITO_LAUNCH(unsigned(ceil_div<int64_t>(threads, 256)), 256, 0, cx.stream(),
                   nf4_dequantize_vec_kernel)
      (as_nv(out), packed, absmax, units, lut);
      CUDA_CHECK(cudaGetLastError());
    }
    first = units * 8;
  }
  if (first < n) {
    KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n - first, 256)), 256, 0, cx.stream(),
                 nf4_dequantize_scalar_kernel)
    (as_nv(out), packed, absmax, first, n, lut);
    CUDA_CHECK(cudaGetLastError());
  }
}

void nf4_absmax_dequantize_cuda(cuda_context& cx, float* absmax, const uint8_t* qabsmax,
                                const float* code8, const float* nested_absmax, float offset,
                                int64_t nblocks) {
  KAITO_CHECK(nblocks >= 0, "nf4_absmax_dequantize_cuda: nblocks=", nblocks);
  if (nblocks == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(nblocks, 256)), 256, 0, cx.stream(),
               nf4_absmax_dequantize_kernel)
  (absmax, qabsmax, code8, nested_absmax, offset, nblocks);
  CUDA_CHECK(cudaGetLastError());
}

void nf4_gemm_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const uint8_t* packed,
                           const float* absmax, int64_t N, int64_t C, int64_t OC) {
  KAITO_CHECK(N >= 0 && C > 0 && OC > 0, "nf4_gemm_forward_cuda: bad shape N=", N, " C=", C,
              " OC=", OC);
  const size_t mark = cx.arena().mark();
  auto w = cx.arena().alloc_array<bf16>(size_t(OC) * size_t(C));
  if (!w.ok()) {
    cx.record_error(w.error().with_context("nf4_gemm_forward_cuda weight scratch"));
    return;
  }
  nf4_dequantize_cuda(cx, *w, packed, absmax, OC * C);
  gemm_forward_cuda(cx, out, inp, *w, nullptr, N, C, OC);
  cx.arena().rewind(mark);  // stream-ordered: the GEMM has read the scratch before any reuse
  CUDA_CHECK(cudaGetLastError());
}

void nf4_gemm_backward_inp_cuda(cuda_context& cx, bf16* dinp, const bf16* dout,
                                const uint8_t* packed, const float* absmax, int64_t N, int64_t C,
                                int64_t OC) {
  KAITO_CHECK(N >= 0 && C > 0 && OC > 0, "nf4_gemm_backward_inp_cuda: bad shape N=", N, " C=", C,
              " OC=", OC);
  const size_t mark = cx.arena().mark();
  auto w = cx.arena().alloc_array<bf16>(size_t(OC) * size_t(C));
  if (!w.ok()) {
    cx.record_error(w.error().with_context("nf4_gemm_backward_inp_cuda weight scratch"));
    return;
  }
  nf4_dequantize_cuda(cx, *w, packed, absmax, OC * C);
  gemm_backward_inp_cuda(cx, dinp, dout, *w, N, C, OC);
  cx.arena().rewind(mark);  // stream-ordered: the GEMM has read the scratch before any reuse
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
