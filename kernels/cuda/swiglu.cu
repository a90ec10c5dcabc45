// SwiGLU forward/backward on the GPU; contract and CPU twin: kernels/swiglu.{h,cpp}.
// bf16 data, fp32 math (sigmoid = 1 / (1 + expf(-g)), as torch's silu). One block per row, threads
// striding over the I columns; gate/up/dgate/dup rows are `ld` elements apart (fused gate_up).
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/swiglu_math.cuh"
#include "kernels/swiglu.h"

namespace kaito {
namespace {

__global__ void swiglu_forward_kernel(__nv_bfloat16* out, const __nv_bfloat16* gate,
                                      const __nv_bfloat16* up, int I, int64_t ld) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  const int64_t n = blockIdx.x;
  const __nv_bfloat16* g = gate + n * ld;  // seek to gate[n, :], up[n, :], out[n, :]
  const __nv_bfloat16* u = up + n * ld;
  __nv_bfloat16* o = out + n * I;
  for (int i = threadIdx.x; i < I; i += blockDim.x) o[i] = swiglu_act(g[i], u[i]);
}

__global__ void swiglu_backward_kernel(__nv_bfloat16* dgate, __nv_bfloat16* dup,
                                       const __nv_bfloat16* dout, const __nv_bfloat16* gate,
                                       const __nv_bfloat16* up, int I, int64_t ld) {
  const int64_t n = blockIdx.x;
  const __nv_bfloat16* g = gate + n * ld;
  const __nv_bfloat16* u = up + n * ld;
  const __nv_bfloat16* d = dout + n * I;
  __nv_bfloat16* dg = dgate + n * ld;
  __nv_bfloat16* du = dup + n * ld;
  for (int i = threadIdx.x; i < I; i += blockDim.x) {
    const float x = __bfloat162float(g[i]), uv = __bfloat162float(u[i]),
                dv = __bfloat162float(d[i]);
    const float sig = 1.0f / (1.0f + expf(-x));
    // both inputs read before either output is written (outputs may share rows with inputs)
    dg[i] = __float2bfloat16_rn(dv * uv * (sig * (1.0f + x * (1.0f - sig))));
    du[i] = __float2bfloat16_rn(dv * x * sig);
  }
}

unsigned threads_for(int64_t I) {
  return I >= 256 ? 256u : unsigned(ceil_div<int64_t>(I, 32) * 32);
}

}  // namespace

// launchers: tests/cuda/lora_decode_emulation_test.cpp includes this file with
// KAITO_CUDA_EMULATE and runs swiglu_forward_kernel itself
#ifndef KAITO_CUDA_NO_LAUNCHERS
void swiglu_forward_cuda(cuda_context& cx, bf16* out, const bf16* gate, const bf16* up, int64_t N,
                         int64_t I, int64_t ld) {
  KAITO_CHECK(N >= 0 && I > 0 && I <= INT32_MAX && ld >= I && N <= INT32_MAX,
              "swiglu_forward_cuda: bad shape N=", N, " I=", I, " ld=", ld);
  if (N == 0) return;
  launch_pdl(cx, swiglu_forward_kernel, dim3(unsigned(N)), dim3(threads_for(I)), 0, as_nv(out),
             as_nv(gate), as_nv(up), int(I), ld);
  CUDA_CHECK(cudaGetLastError());
}

void swiglu_backward_cuda(cuda_context& cx, bf16* dgate, bf16* dup, const bf16* dout,
                          const bf16* gate, const bf16* up, int64_t N, int64_t I, int64_t ld) {
  KAITO_CHECK(N >= 0 && I > 0 && I <= INT32_MAX && ld >= I && N <= INT32_MAX,
              "swiglu_backward_cuda: bad shape N=", N, " I=", I, " ld=", ld);
  if (N == 0) return;
  KAITO_LAUNCH(unsigned(N), threads_for(I), 0, cx.stream(), swiglu_backward_kernel)
  (as_nv(dgate), as_nv(dup), as_nv(dout), as_nv(gate), as_nv(up), int(I), ld);
  CUDA_CHECK(cudaGetLastError());
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
