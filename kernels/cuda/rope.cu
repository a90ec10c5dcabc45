// RoPE forward/backward on the GPU; contract and CPU twin: kernels/rope.{h,cpp}.
// bf16 data, fp32 cos/sin tables (N, HS) built on the host. One thread per rotated pair
// (n, h, j < HS/2); it reads both elements before writing, so out may equal inp.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/rope.h"

namespace kaito {
namespace {

template <bool Backward>
__global__ void rope_kernel(__nv_bfloat16* out, const __nv_bfloat16* inp, const float* cos,
                            const float* sin, int64_t pairs, int NH, int HS) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= pairs) return;
  const int H = HS / 2;
  const int j = int(idx % H);
  const int64_t nh = idx / H;  // n * NH + h
  const int64_t n = nh / NH;
  const __nv_bfloat16* x = inp + nh * HS;  // seek to inp[n, h, :]
  __nv_bfloat16* o = out + nh * HS;
  const float* c = cos + n * HS;  // cos[n, :], sin[n, :]
  const float* s = sin + n * HS;
  const float x1 = __bfloat162float(x[j]), x2 = __bfloat162float(x[j + H]);
  float y1, y2;
  if constexpr (!Backward) {
    y1 = x1 * c[j] - x2 * s[j];
    y2 = x2 * c[j + H] + x1 * s[j + H];
  } else {  // the transpose: rotation by -angle
    y1 = x1 * c[j] + x2 * s[j + H];
    y2 = x2 * c[j + H] - x1 * s[j];
  }
  o[j] = __float2bfloat16_rn(y1);
  o[j + H] = __float2bfloat16_rn(y2);
}

template <bool Backward>
void launch_rope(cuda_context& cx, bf16* out, const bf16* inp, const float* cos, const float* sin,
                 int64_t N, int64_t NH, int64_t HS) {
  KAITO_CHECK(N >= 0 && NH > 0 && HS > 0 && HS % 2 == 0 && HS <= INT32_MAX && NH <= INT32_MAX,
              "rope_cuda: bad shape N=", N, " NH=", NH, " HS=", HS);
  const int64_t pairs = N * NH * (HS / 2);
  if (pairs == 0) return;
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(pairs, 256)), 256, 0, cx.stream(), rope_kernel<Backward>)
  (as_nv(out), as_nv(inp), cos, sin, pairs, int(NH), int(HS));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

// launchers

void rope_forward_cuda(cuda_context& cx, bf16* out, const bf16* inp, const float* cos,
                       const float* sin, int64_t N, int64_t NH, int64_t HS) {
  launch_rope<false>(cx, out, inp, cos, sin, N, NH, HS);
}

void rope_backward_cuda(cuda_context& cx, bf16* dinp, const bf16* dout, const float* cos,
                        const float* sin, int64_t N, int64_t NH, int64_t HS) {
  launch_rope<true>(cx, dinp, dout, cos, sin, N, NH, HS);
}

}  // namespace kaito
