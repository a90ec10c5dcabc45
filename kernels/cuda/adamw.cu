// AdamW update on the GPU; contract and CPU twin: kernels/adamw.{h,cpp} (torch.optim.AdamW).
// The fp32 element math is spelled with _rn intrinsics in the CPU twin's order so that nvcc cannot
// contract it into FMAs (the CPU twin builds with -ffp-contract=off): the two twins agree bit for
// bit. Scalars are formed on the host in fp64 and rounded to fp32 exactly as the CPU twin does.
#include <cmath>
#include <vector>

#include "kernels/adamw.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"

namespace kaito {
namespace {

struct adamw_scalars {
  float decay, w1, b2, w2, neg_step, bc2_sqrt, eps;
};

__device__ __forceinline__ void adamw_element(float* param, float* m, float* v, const float* grad,
                                              int64_t i, const adamw_scalars& s) {
  const float p = __fmul_rn(param[i], s.decay);
  const float g = grad[i];
  float mi = m[i];
  mi = s.w1 < 0.5f ? __fadd_rn(mi, __fmul_rn(s.w1, __fsub_rn(g, mi)))
                   : __fsub_rn(g, __fmul_rn(__fsub_rn(g, mi), __fsub_rn(1.0f, s.w1)));
  float vi = __fmul_rn(v[i], s.b2);
  vi = __fadd_rn(vi, __fmul_rn(__fmul_rn(s.w2, g), g));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.bc2_sqrt), s.eps);
  param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(s.neg_step, mi), denom));
  m[i] = mi;
  v[i] = vi;
}

__global__ void adamw_kernel(float* param, float* m, float* v, const float* grad, int64_t n,
                             adamw_scalars s) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  adamw_element(param, m, v, grad, i, s);
}

constexpr int64_t k_multi_chunk = 4096;  // elements per block of the multi-tensor launch

struct multi_entry {
  adamw_tensor t;
  int64_t first_chunk;  // blocks before this tensor's first
};

// Block b updates chunk b: the tensor whose chunk range holds b (binary search in the table).
__global__ void adamw_multi_kernel(const multi_entry* table, int count, adamw_scalars s) {
  const int64_t chunk = blockIdx.x;
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table[mid].first_chunk <= chunk)
      lo = mid;
    else
      hi = mid - 1;
  }
  const adamw_tensor t = table[lo].t;
  const int64_t begin = (chunk - table[lo].first_chunk) * k_multi_chunk;
  const int64_t end = begin + k_multi_chunk < t.n ? begin + k_multi_chunk : t.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    adamw_element(t.param, t.m, t.v, t.grad, i, s);
}

adamw_scalars scalars_for(const adamw_params& hp, int64_t t) {
  const double bc1 = 1.0 - std::pow(hp.beta1, double(t));
  const double bc2 = 1.0 - std::pow(hp.beta2, double(t));
  return adamw_scalars{float(1.0 - hp.lr * hp.weight_decay),
                       float(1.0 - hp.beta1),
                       float(hp.beta2),
                       float(1.0 - hp.beta2),
                       float(-(hp.lr / bc1)),
                       float(std::sqrt(bc2)),
                       float(hp.eps)};
}

// The multi-tensor launch's table: every tensor with n > 0 and the chunk it starts at; `chunks`
// gets the total (the grid).
std::vector<multi_entry> multi_table(const adamw_tensor* list, int64_t count, int64_t& chunks) {
  std::vector<multi_entry> table;
  table.reserve(size_t(count));
  chunks = 0;
  for (int64_t k = 0; k < count; ++k) {
    KAITO_CHECK(list[k].n >= 0, "adamw_update_multi_cuda: tensor ", k, " has n=", list[k].n);
    if (list[k].n == 0) continue;
    table.push_back({list[k], chunks});
    chunks += ceil_div<int64_t>(list[k].n, k_multi_chunk);
  }
  return table;
}

constexpr int kAdamwThreads = 256;

}  // namespace

// launchers: tests/cuda/adamw_emulation_test.cpp includes this file with KAITO_CUDA_EMULATE
// defined (tests/cuda/cuda_emulation.h) and leaves them out.
#ifndef KAITO_CUDA_NO_LAUNCHERS

void adamw_update_cuda(cuda_context& cx, float* param, float* m, float* v, const float* grad,
                       int64_t n, const adamw_params& hp, int64_t t) {
  KAITO_CHECK(n >= 0 && t >= 1, "adamw_update_cuda: n=", n, " t=", t);
  if (n == 0) return;
  const adamw_scalars s = scalars_for(hp, t);
  KAITO_LAUNCH(unsigned(ceil_div<int64_t>(n, kAdamwThreads)), kAdamwThreads, 0, cx.stream(),
               adamw_kernel)
  (param, m, v, grad, n, s);
  CUDA_CHECK(cudaGetLastError());
}

void adamw_update_multi_cuda(cuda_context& cx, const adamw_tensor* list, int64_t count,
                             const adamw_params& hp, int64_t t) {
  KAITO_CHECK(count >= 0 && t >= 1, "adamw_update_multi_cuda: count=", count, " t=", t);
  int64_t chunks = 0;
  const std::vector<multi_entry> table = multi_table(list, count, chunks);
  if (table.empty()) return;
  KAITO_CHECK(chunks <= INT32_MAX && table.size() <= size_t(INT32_MAX),
              "adamw_update_multi_cuda: too many chunks");
  const size_t mark = cx.arena().mark();
  auto dev = cx.arena().alloc_array<multi_entry>(table.size());
  if (!dev.ok()) {
    cx.record_error(dev.error());
    return;
  }
  // Pageable source: the call returns once the bytes are staged, so `table` may go away.
  CUDA_CHECK(cudaMemcpyAsync(*dev, table.data(), table.size() * sizeof(multi_entry),
                             cudaMemcpyHostToDevice, cx.stream()));
  KAITO_LAUNCH(unsigned(chunks), kAdamwThreads, 0, cx.stream(), adamw_multi_kernel)
  (*dev, int(table.size()), scalars_for(hp, t));
  CUDA_CHECK(cudaGetLastError());
  cx.arena().rewind(mark);  // stream order keeps the table valid for the kernel
}
#endif  // KAITO_CUDA_NO_LAUNCHERS

}  // namespace kaito
