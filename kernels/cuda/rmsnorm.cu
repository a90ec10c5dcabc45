// RMSNorm forward/backward on the GPU; the contract and the CPU twin are kernels/rmsnorm.{h,cpp}.
// bf16 data, fp32 math. One warp per row (rows are C <= a few thousand channels: 3072 for Phi-3),
// 16-byte vector loads when C % 8 == 0 and the pointers are 16-byte aligned, scalar otherwise.
// dweight: a column-parallel pass writing per-chunk fp32 partials, then a fixed-order reduction
// (deterministic: no atomics).
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/rmsnorm_row.cuh"
#include "kernels/rmsnorm.h"

namespace kaito {
namespace {

constexpr int kRowsPerBlock = kNormRowsPerBlock;  // warps per block, one row each

// One warp per row: rmsnorm_forward_row (kernels/cuda/rmsnorm_row.cuh).
template <bool Vec, bool Add>
__global__ void rmsnorm_forward_kernel(__nv_bfloat16* out, float* rstd, const __nv_bfloat16* inp,
                                       const __nv_bfloat16* weight, int64_t N, int C, float eps,
                                       __nv_bfloat16* sum, const __nv_bfloat16* add) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= N) return;
  rmsnorm_forward_row<Vec, Add>(out, rstd, inp, weight, row, C, eps, sum, add);
}

// dinp[n,c] = rstd*g - x * rstd^3 * mean_c(g*x), g = dout * weight.
template <bool Vec>
__global__ void rmsnorm_backward_inp_kernel(__nv_bfloat16* dinp, const __nv_bfloat16* dout,
                                            const __nv_bfloat16* inp, const __nv_bfloat16* weight,
                                            const float* rstd, int64_t N, int C) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const __nv_bfloat16* x = inp + row * C;  // seek to inp[row, :], dout[row, :], dinp[row, :]
  const __nv_bfloat16* dy = dout + row * C;
  __nv_bfloat16* dx = dinp + row * C;
  const float r = rstd[row];
  float dot = 0.0f;
  if constexpr (Vec) {
    for (int c = lane * 8; c < C; c += 256) {
      float f[8], g[8], w[8];
      load8_bf16(f, x + c);
      load8_bf16(g, dy + c);
      load8_bf16(w, weight + c);
#pragma unroll
      for (int i = 0; i < 8; ++i) dot += g[i] * w[i] * f[i];
    }
  } else {
    for (int c = lane; c < C; c += 32)
      dot += __bfloat162float(dy[c]) * __bfloat162float(weight[c]) * __bfloat162float(x[c]);
  }
  dot = warp_reduce_sum(dot);
  const float k = r * r * r * dot / float(C);
  if constexpr (Vec) {
    for (int c = lane * 8; c < C; c += 256) {
      float f[8], g[8], w[8];
      load8_bf16(f, x + c);
      load8_bf16(g, dy + c);
      load8_bf16(w, weight + c);
#pragma unroll
      for (int i = 0; i < 8; ++i) f[i] = r * g[i] * w[i] - f[i] * k;
      store8_bf16(dx + c, f);
    }
  } else {
    for (int c = lane; c < C; c += 32) {
      const float g = __bfloat162float(dy[c]) * __bfloat162float(weight[c]);
      dx[c] = __float2bfloat16_rn(r * g - __bfloat162float(x[c]) * k);
    }
  }
}

// partial[chunk, c] = sum over the chunk's rows of dout[n,c] * inp[n,c] * rstd[n].
// Block (64, 4): x over 64 columns, y over row phases; rows [chunk*rows_per_chunk,
// +rows_per_chunk).
__global__ void rmsnorm_dweight_partial_kernel(float* partial, const __nv_bfloat16* dout,
                                               const __nv_bfloat16* inp, const float* rstd,
                                               int64_t N, int C, int64_t rows_per_chunk) {
  __shared__ float acc[4][64];
  const int c = blockIdx.x * 64 + threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t row1 = min(N, row0 + rows_per_chunk);
  float s = 0.0f;
  if (c < C) {
    for (int64_t n = row0 + threadIdx.y; n < row1; n += 4)
      s += __bfloat162float(dout[n * C + c]) * __bfloat162float(inp[n * C + c]) * rstd[n];
  }
  acc[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    partial[int64_t(blockIdx.y) * C + c] =
        acc[0][threadIdx.x] + acc[1][threadIdx.x] + acc[2][threadIdx.x] + acc[3][threadIdx.x];
  }
}

// dweight[c] += sum_k partial[k, c], k in order.
__global__ void rmsnorm_dweight_reduce_kernel(float* dweight, const float* partial, int chunks,
                                              int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int k = 0; k < chunks; ++k) s += partial[int64_t(k) * C + c];
  dweight[c] += s;
}

}  // namespace

// launchers: tests/cuda/add_rmsnorm_emulation_test.cpp includes this file with
// KAITO_CUDA_EMULATE and drives the kernels itself
#ifndef KAITO_CUDA_NO_LAUNCHERS
void rmsnorm_forward_cuda(cuda_context& cx, bf16* out, float* rstd, const bf16* inp,
                          const bf16* weight, int64_t N, int64_t C, float eps) {
  KAITO_CHECK(N >= 0 && C > 0 && C <= INT32_MAX, "rmsnorm_forward_cuda: bad shape N=", N, " C=", C);
  if (N == 0) return;
  const dim3 grid(unsigned(ceil_div<int64_t>(N, kRowsPerBlock))), block(kRowsPerBlock * 32);
  const bool vec = C % 8 == 0 && aligned16(out) && aligned16(inp) && aligned16(weight);
  if (vec) {
    launch_pdl(cx, rmsnorm_forward_kernel<true, false>, dim3(grid), dim3(block), 0, as_nv(out),
               rstd, as_nv(inp), as_nv(weight), N, int(C), eps, nullptr, nullptr);
  } else {
    launch_pdl(cx, rmsnorm_forward_kernel<false, false>, dim3(grid), dim3(block), 0, as_nv(out),
               rstd, as_nv(inp), as_nv(weight), N, int(C), eps, nullptr, nullptr);
  }
  CUDA_CHECK(cudaGetLastError());
}

void add_rmsnorm_forward_cuda(cuda_context& cx, bf16* sum, bf16* out, float* rstd, const bf16* a,
                              const bf16* b, const bf16* weight, int64_t N, int64_t C, float eps) {
  KAITO_CHECK(N >= 0 && C > 0 && C <= INT32_MAX, "add_rmsnorm_forward_cuda: bad shape N=", N,
              " C=", C);
  if (N == 0) return;
  const dim3 grid(unsigned(ceil_div<int64_t>(N, kRowsPerBlock))), block(kRowsPerBlock * 32);
  const bool vec = C % 8 == 0 && aligned16(out) && aligned16(sum) && aligned16(a) && aligned16(b) &&
                   aligned16(weight);
  if (vec) {
    launch_pdl(cx, rmsnorm_forward_kernel<true, true>, dim3(grid), dim3(block), 0, as_nv(out), rstd,
               as_nv(a), as_nv(weight), N, int(C), eps, as_nv(sum), as_nv(b));
  } else {
    launch_pdl(cx, rmsnorm_forward_kernel<false, true>, dim3(grid), dim3(block), 0, as_nv(out),
               rstd, as_nv(a), as_nv(weight), N, int(C), eps, as_nv(sum), as_nv(b));
  }
  CUDA_CHECK(cudaGetLastError());
}

void rmsnorm_backward_cuda(cuda_context& cx, bf16* dinp, float* dweight, const bf16* dout,
                           const bf16* inp, const bf16* weight, const float* rstd, int64_t N,
                           int64_t C) {
  KAITO_CHECK(N >= 0 && C > 0 && C <= INT32_MAX, "rmsnorm_backward_cuda: bad shape N=", N,
              " C=", C);
  if (N == 0) return;
  const dim3 grid(unsigned(ceil_div<int64_t>(N, kRowsPerBlock))), block(kRowsPerBlock * 32);
  const bool vec =
      C % 8 == 0 && aligned16(dinp) && aligned16(dout) && aligned16(inp) && aligned16(weight);
  if (vec) {
    KAITO_LAUNCH(grid, block, 0, cx.stream(), rmsnorm_backward_inp_kernel<true>)
    (as_nv(dinp), as_nv(dout), as_nv(inp), as_nv(weight), rstd, N, int(C));
  } else {
    KAITO_LAUNCH(grid, block, 0, cx.stream(), rmsnorm_backward_inp_kernel<false>)
    (as_nv(dinp), as_nv(dout), as_nv(inp), as_nv(weight), rstd, N, int(C));
  }
  CUDA_CHECK(cudaGetLastError());
  if (dweight == nullptr) return;

  // Enough chunks to give every SM a few blocks, each chunk at least 32 rows.
  const int col_blocks = int(ceil_div<int64_t>(C, 64));
  const int64_t want = std::max<int64_t>(1, 4 * int64_t(cx.sm_count()) / col_blocks);
  const int chunks = int(std::min<int64_t>({want, ceil_div<int64_t>(N, 32), 65535}));
  const int64_t rows_per_chunk = ceil_div<int64_t>(N, chunks);
  const size_t mark = cx.arena().mark();
  auto partial = cx.arena().alloc_array<float>(size_t(chunks) * size_t(C));
  if (!partial.ok()) {
    cx.record_error(partial.error().with_context("rmsnorm_backward_cuda dweight partials"));
    return;
  }
  KAITO_LAUNCH(dim3(col_blocks, chunks), dim3(64, 4), 0, cx.stream(),
               rmsnorm_dweight_partial_kernel)
  (*partial, as_nv(dout), as_nv(inp), rstd, N, int(C), rows_per_chunk);
  CUDA_CHECK(cudaGetLastError());
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(C, 256)), 256, 0, cx.stream(),
               rmsnorm_dweight_reduce_kernel)
  (dweight, *partial, chunks, int(C));
  CUDA_CHECK(cudaGetLastError());
  cx.arena().rewind(mark);  // stream-ordered: later users of this scratch run after these kernels
}

#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
