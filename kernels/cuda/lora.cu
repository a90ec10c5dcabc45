// LoRA branch forward/backward on the GPU; contract and CPU twin: kernels/lora.{h,cpp}.
// bf16 activations and adapter copies, fp32 dA/dB. The products go through cuBLASLt
// (detail::lt_matmul, column-major view of the row-major tensors); dropout is an element kernel
// whose mask is rng_uniform(seed, e) >= p (kernels/rng.h, the same counter-based draw as the CPU
// twin), so the backward regenerates the forward's mask from the seed.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/lt_matmul.h"
#include "kernels/lora.h"
#include "kernels/rng.h"

namespace kaito {
namespace {

// out[e] = keep(e) ? x[e] * ks : 0  (p in (0, 1))
__global__ void dropout_kernel(__nv_bfloat16* out, const __nv_bfloat16* x, int64_t n, float p,
                               float ks, uint64_t seed) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  out[e] = rng_uniform(seed, uint64_t(e)) >= p ? __float2bfloat16_rn(__bfloat162float(x[e]) * ks)
                                               : __float2bfloat16_rn(0.0f);
}

// dx[e] += keep(e) ? g[e] * ks : 0
__global__ void dropout_backward_add_kernel(__nv_bfloat16* dx, const __nv_bfloat16* g, int64_t n,
                                            float p, float ks, uint64_t seed) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  if (rng_uniform(seed, uint64_t(e)) >= p)
    dx[e] = __float2bfloat16_rn(__bfloat162float(dx[e]) + __bfloat162float(g[e]) * ks);
}

// dB[o, k] = 0 where column k's block is not row o's (one thread per element).
__global__ void lora_block_mask_kernel(float* dB, int64_t OUT, int64_t R, lora_blocks b) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= OUT * R) return;
  const int64_t o = e / R, k = e % R;
  int seg = 0;
  while (o >= b.seg_end[seg]) ++seg;
  if (k / (R / b.nseg) != seg) dB[e] = 0.0f;
}

float keep_scale(float p) {
  return 1.0f / float(1.0 - double(p));
}  // as the CPU twin

}  // namespace

// launchers

void lora_forward_cuda(cuda_context& cx, bf16* y, bf16* xd, bf16* z, const bf16* x, const bf16* A,
                       const bf16* B, int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale,
                       float dropout_p, uint64_t seed) {
  KAITO_CHECK(N >= 0 && IN > 0 && R > 0 && OUT > 0, "lora_forward_cuda: bad shape N=", N,
              " IN=", IN, " R=", R, " OUT=", OUT);
  KAITO_CHECK(dropout_p <= 0.0f || xd != nullptr, "lora_forward_cuda: dropout needs xd");
  if (N == 0) return;
  const int64_t n = N * IN;
  const bf16* xin = x;  // without dropout xd would equal x: nothing is copied or saved
  if (dropout_p >= 1.0f) {
    CUDA_CHECK(cudaMemsetAsync(xd, 0, size_t(n) * sizeof(bf16), cx.stream()));  // bf16 +0.0
    xin = xd;
  } else if (dropout_p > 0.0f) {
    KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), dropout_kernel)
    (as_nv(xd), as_nv(x), n, dropout_p, keep_scale(dropout_p), seed);
    CUDA_CHECK(cudaGetLastError());
    xin = xd;
  }
  // z(N,R) = xd · Aᵀ:   col-major (R x N) = A-stored(IN x R)ᵀ · xd(IN x N)
  detail::lt_matmul(
      cx, {true, false, R, N, IN, A, IN, xin, IN, z, R, CUDA_R_16BF, 1.0f, 0.0f, nullptr});
  // y(N,OUT) += s * z · Bᵀ:   col-major (OUT x N) += s * B-stored(R x OUT)ᵀ · z(R x N)
  detail::lt_matmul(
      cx, {true, false, OUT, N, R, B, R, z, R, y, OUT, CUDA_R_16BF, scale, 1.0f, nullptr});
  CUDA_CHECK(cudaGetLastError());
}

void lora_backward_cuda(cuda_context& cx, bf16* dx, float* dA, float* dB, bf16* dz, const bf16* dy,
                        const bf16* xd, const bf16* z, const bf16* A, const bf16* B, int64_t N,
                        int64_t IN, int64_t R, int64_t OUT, float scale, float dropout_p,
                        uint64_t seed) {
  KAITO_CHECK(N >= 0 && IN > 0 && R > 0 && OUT > 0, "lora_backward_cuda: bad shape N=", N,
              " IN=", IN, " R=", R, " OUT=", OUT);
  if (N == 0) return;
  // dB(OUT,R) += s * dyᵀ · z:   col-major (R x OUT) += s * z(R x N) · dy-stored(OUT x N)ᵀ
  detail::lt_matmul(
      cx, {false, true, R, OUT, N, z, R, dy, OUT, dB, R, CUDA_R_32F, scale, 1.0f, nullptr});
  // dz(N,R) = s * dy · B:   col-major (R x N) = s * B-stored(R x OUT) · dy(OUT x N)
  detail::lt_matmul(
      cx, {false, false, R, N, OUT, B, R, dy, OUT, dz, R, CUDA_R_16BF, scale, 0.0f, nullptr});
  // dA(R,IN) += dzᵀ · xd:   col-major (IN x R) += xd(IN x N) · dz-stored(R x N)ᵀ
  detail::lt_matmul(
      cx, {false, true, IN, R, N, xd, IN, dz, R, dA, IN, CUDA_R_32F, 1.0f, 1.0f, nullptr});
  // dx(N,IN) += dropout'(dz · A):   col-major (IN x N) = A-stored(IN x R) · dz(R x N)
  if (dropout_p <= 0.0f) {
    detail::lt_matmul(
        cx, {false, false, IN, N, R, A, IN, dz, R, dx, IN, CUDA_R_16BF, 1.0f, 1.0f, nullptr});
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (dropout_p >= 1.0f) return;  // everything dropped: no gradient reaches x through LoRA
  const size_t mark = cx.arena().mark();
  auto g = cx.arena().alloc_array<bf16>(size_t(N) * size_t(IN));
  if (!g.ok()) {
    cx.record_error(g.error().with_context("lora_backward_cuda dropout scratch"));
    return;
  }
  detail::lt_matmul(
      cx, {false, false, IN, N, R, A, IN, dz, R, *g, IN, CUDA_R_16BF, 1.0f, 0.0f, nullptr});
  const int64_t n = N * IN;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(),
               dropout_backward_add_kernel)
  (as_nv(dx), as_nv(*g), n, dropout_p, keep_scale(dropout_p), seed);
  CUDA_CHECK(cudaGetLastError());
  cx.arena().rewind(mark);  // stream-ordered: the kernel has read the scratch before any reuse
}

void lora_block_mask_cuda(cuda_context& cx, float* dB, int64_t OUT, int64_t R,
                          const lora_blocks& b) {
  KAITO_CHECK(lora_blocks_valid(b, OUT, R), "lora_block_mask_cuda: bad blocks for OUT=", OUT,
              " R=", R);
  if (b.nseg == 1) return;  // one block: nothing lies outside it
  const int64_t n = OUT * R;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, 256)), 256, 0, cx.stream(), lora_block_mask_kernel)
  (dB, OUT, R, b);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
