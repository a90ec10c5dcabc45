// RoPE forward/backward on the GPU; contract and CPU twin: kernels/rope.{h,cpp}.
// bf16 data, fp32 cos/sin tables (N, RD) built on the host. One thread per dim pair (n, h, j <
// HS/2): j < RD/2 rotates (j, j + RD/2), the rest copy two pass-through dims (rope_pair_dims);
// each reads both elements before writing, so out may equal inp.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/rope_pair.cuh"
#include "kernels/rope.h"

namespace kaito {
namespace {

template <bool Backward>
__global__ void rope_kernel(__nv_bfloat16* out, const __nv_bfloat16* inp, const float* cos,
                            const float* sin, int64_t pairs, int NH, int HS, int RD) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= pairs) return;
  const int j = int(idx % (HS / 2));
  const int64_t nh = idx / (HS / 2);  // n * NH + h
  const int64_t n = nh / NH;
  const __nv_bfloat16* x = inp + nh * HS;  // seek to inp[n, h, :]
  __nv_bfloat16* o = out + nh * HS;
  const rope_pair p = rope_pair_dims(j, RD);
  const __nv_bfloat16 x1 = x[p.d1], x2 = x[p.d2];
  if (!p.rotate) {  // partial rotary: passed through
    o[p.d1] = x1;
    o[p.d2] = x2;
    return;
  }
  const float* c = cos + n * RD;  // cos[n, :], sin[n, :]
  const float* s = sin + n * RD;
  const float2 y = Backward ? rope_unrotate(__bfloat162float(x1), __bfloat162float(x2), c, s, j, RD)
                            : rope_rotate(__bfloat162float(x1), __bfloat162float(x2), c, s, j, RD);
  o[p.d1] = __float2bfloat16_rn(y.x);
  o[p.d2] = __float2bfloat16_rn(y.y);
}

template <bool Backward>
void launch_rope(cuda_context& cx, bf16* out, const bf16* inp, const float* cos, const float* sin,
                 int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  KAITO_CHECK(N >= 0 && NH > 0 && HS > 0 && HS % 2 == 0 && HS <= INT32_MAX && NH <= INT32_MAX &&
                  RD >= 2 && RD % 2 == 0 && RD <= HS,
              "rope_cuda: bad shape N=", N, " NH=", NH, " HS=", HS, " RD=", RD);
  const int64_t pairs = N * NH * (HS / 2);
  if (pairs == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(pairs, 256)), 256, 0, cx.stream(), rope_kernel<Backward>)
  (as_nv(out), as_nv(inp), cos, sin, pairs, int(NH), int(HS), int(RD));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

// launchers

void rope_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const float* cos,
                       const float* sin, int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  launch_rope<false>(cx, out, inp, cos, sin, N, NH, HS, RD);
}

void rope_backward_cuda(cuda_context& cx, bf16* dinp, const bf16* dout, const float* cos,
                        const float* sin, int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  launch_rope<true>(cx, dinp, dout, cos, sin, N, NH, HS, RD);
}

}  // namespace kaito
