// Token embedding forward/backward on the GPU; contract and CPU twin: kernels/embedding.{h,cpp}.
// Forward: one block per token copies table[id, :] (bf16). Backward: one block per token adds
// dout[n, :] into the fp32 dtable[id, :] with atomics (the order of a repeated id's sum may differ
// from the CPU twin's token order). Ids are checked by the engine at its entry; an id outside
// [0, V) here writes a NaN row (forward) or is skipped (backward) instead of touching memory
// outside the table.
#include <cuda_bf16.h>

#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/embedding.h"

namespace kaito {
namespace {

__global__ void embedding_forward_kernel(__nv_bfloat16* out, const int32_t* ids,
                                         const __nv_bfloat16* table, int64_t V, int C) {
  pdl_trigger();  // launched through launch_pdl (kernels/cuda/pdl.cuh)
  pdl_wait();
  const int64_t n = blockIdx.x;
  const int64_t id = ids[n];
  __nv_bfloat16* o = out + n * C;  // seek to out[n, :]
  if (id < 0 || id >= V) {
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = __float2bfloat16_rn(NAN);
    return;
  }
  const __nv_bfloat16* row = table + id * C;  // table[id, :]
  for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = row[c];
}

__global__ void embedding_backward_kernel(float* dtable, const __nv_bfloat16* dout,
                                          const int32_t* ids, int64_t V, int C) {
  const int64_t n = blockIdx.x;
  const int64_t id = ids[n];
  if (id < 0 || id >= V) return;
  float* row = dtable + id * C;  // dtable[id, :]
  const __nv_bfloat16* g = dout + n * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(row + c, __bfloat162float(g[c]));
}

}  // namespace

// launchers

void embedding_forward_cuda(cuda_context& cx, bf16* out, const int32_t* ids, const bf16* table,
                            int64_t N, int64_t V, int64_t C) {
  KAITO_CHECK(N >= 0 && N <= INT32_MAX && V > 0 && C > 0 && C <= INT32_MAX,
              "embedding_forward_cuda: bad shape N=", N, " V=", V, " C=", C);
  if (N == 0) return;
  launch_pdl(cx, embedding_forward_kernel, dim3(unsigned(N)), dim3(256), 0, as_nv(out), ids,
             as_nv(table), V, int(C));
  CUDA_CHECK(cudaGetLastError());
}

void embedding_backward_cuda(cuda_context& cx, float* dtable, const bf16* dout, const int32_t* ids,
                             int64_t N, int64_t V, int64_t C) {
  KAITO_CHECK(N >= 0 && N <= INT32_MAX && V > 0 && C > 0 && C <= INT32_MAX,
              "embedding_backward_cuda: bad shape N=", N, " V=", V, " C=", C);
  if (N == 0) return;
  KAITO_LAUNCH(unsigned(N), 256, 0, cx.stream(), embedding_backward_kernel)
  (dtable, as_nv(dout), ids, V, int(C));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace kaito
