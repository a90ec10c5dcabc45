// gpu_model (contract: engine/cuda/gpu_model.h): the random model, the NF4 linear helpers and the
// LoRA refresh (models from host values: gpu_model_build.cu).
#include "engine/cuda/gpu_model.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/gpu_model_build.h"
#include "engine/cuda/rope_tables.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rng.h"
#include "kernels/rope.h"

namespace kaito::gpu {

const float* gpu_model::rope_cos_for(int64_t T) const {
  return (rope_forward_uses_long(shape.rope, T) ? rope_cos_long : rope_cos).as<float>();
}
const float* gpu_model::rope_sin_for(int64_t T) const {
  return (rope_forward_uses_long(shape.rope, T) ? rope_sin_long : rope_sin).as<float>();
}

size_t gpu_model::bytes() const {
  size_t b = embed.bytes() + final_norm.bytes() + lm_head.bytes() + rope_cos.bytes() +
             rope_sin.bytes() + rope_cos_long.bytes() + rope_sin_long.bytes() + code8.bytes();
  for (const gpu_layer& l : layers) {
    b += l.input_norm.bytes() + l.post_norm.bytes();
    for (int t = 0; t < kLoraTargets; ++t) {
      const gpu_base_linear& w = l.base(t);
      const gpu_lora_linear& a = l.lora(t);
      b += w.packed.bytes() + w.qabsmax.bytes() + w.nested_absmax.bytes() + w.dense.bytes() +
           w.bias.bytes();
      b += a.A.bytes() + a.B.bytes() + a.A_master.bytes() + a.B_master.bytes() + a.dA.bytes() +
           a.dB.bytes();
    }
  }
  return b;
}

namespace {

unsigned grid_for(int64_t n) {
  return unsigned(std::min<int64_t>(ceil_div<int64_t>(n, 256), int64_t(1) << 20));
}

__global__ void uniform_f32_kernel(float* out, int64_t n, uint64_t seed, float lo, float width) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __fadd_rn(lo, __fmul_rn(width, rng_uniform(seed, uint64_t(i))));  // no FMA
}

__global__ void uniform_bf16_kernel(__nv_bfloat16* out, int64_t n, uint64_t seed, float lo,
                                    float width) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(__fadd_rn(lo, __fmul_rn(width, rng_uniform(seed, uint64_t(i)))));
}

__global__ void fill_bf16_kernel(__nv_bfloat16* out, int64_t n, float v) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(v);
}

}  // namespace

result<gpu_model> gpu_model_random(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                   uint64_t seed, bool lora_b_zero) {
  KAITO_ASSIGN_OR_RETURN(gpu_model m, gpu_model_alloc(cx, shape, max_T));
  const float a = kRandomWeightBound;
  const int64_t VC = shape.V * shape.C;
  KAITO_LAUNCH(grid_for(VC), 256, 0, cx.stream(), uniform_bf16_kernel)
  (as_nv(m.embed.as<bf16>()), VC, rng_derive(seed, 1), -a, 2 * a);
  KAITO_LAUNCH(grid_for(VC), 256, 0, cx.stream(), uniform_bf16_kernel)
  (as_nv(m.lm_head.as<bf16>()), VC, rng_derive(seed, 2), -a, 2 * a);
  KAITO_LAUNCH(grid_for(shape.C), 256, 0, cx.stream(), fill_bf16_kernel)
  (as_nv(m.final_norm.as<bf16>()), shape.C, 1.0f);
  GPU_TRY_CUDA(cudaGetLastError());

  KAITO_ASSIGN_OR_RETURN(detail::quantize_scratch qs,
                         detail::alloc_quantize_scratch(detail::max_linear_numel(shape)));
  for (int64_t l = 0; l < shape.L; ++l) {
    gpu_layer& ly = m.layers[size_t(l)];
    KAITO_LAUNCH(grid_for(shape.C), 256, 0, cx.stream(), fill_bf16_kernel)
    (as_nv(ly.input_norm.as<bf16>()), shape.C, 1.0f);
    KAITO_LAUNCH(grid_for(shape.C), 256, 0, cx.stream(), fill_bf16_kernel)
    (as_nv(ly.post_norm.as<bf16>()), shape.C, 1.0f);
    GPU_TRY_CUDA(cudaGetLastError());
    for (int t = 0; t < kLoraTargets; ++t) {
      const uint64_t tag = random_weight_tag(l, t);
      gpu_base_linear& w = ly.base(t);
      KAITO_LAUNCH(grid_for(w.numel()), 256, 0, cx.stream(), uniform_f32_kernel)
      (qs.weight.as<float>(), w.numel(), rng_derive(seed, tag), -a, 2 * a);
      GPU_TRY_CUDA(cudaGetLastError());
      if (w.quantized())
        KAITO_TRY(detail::quantize_dq_device(cx, m, w, qs.weight.as<float>(), qs));
      else
        f32_to_bf16_cuda(cx, w.dense.as<bf16>(), qs.weight.as<float>(), w.numel());
      if (w.bias.get() != nullptr) {  // ~ U(-a, a) as the weights, from the next free tag
        KAITO_LAUNCH(grid_for(w.OC), 256, 0, cx.stream(), uniform_bf16_kernel)
        (as_nv(w.bias.as<bf16>()), w.OC, rng_derive(seed, random_weight_tag(l, kLoraTargets)), -a,
         2 * a);
        GPU_TRY_CUDA(cudaGetLastError());
      }
      gpu_lora_linear& lo = ly.lora(t);
      std::vector<float> A(size_t(lo.r * lo.in)), B(size_t(lo.out * lo.r));
      const uint64_t lseed = rng_derive(seed, tag + 1);
      lora_init_cpu(A.data(), B.data(), lo.r, lo.in, lo.out, lseed);
      if (!lora_b_zero) {
        const uint64_t bseed = rng_derive(lseed, 1);
        for (size_t e = 0; e < B.size(); ++e) B[e] = -1e-3f + 2e-3f * rng_uniform(bseed, e);
        lora_block_mask_cpu(B.data(), lo.out, lo.r, lo.blocks);  // split_lora: zero off-block
      }
      KAITO_TRY(detail::upload_lora(cx, lo, A, B));
    }
  }
  KAITO_TRY(cx.synchronize());
  return std::move(m);  // explicit: nvcc does not apply C++20 implicit move here
}

void base_linear_forward(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w, bf16* out,
                         const bf16* inp, int64_t N) {
  base_linear_forward_via(cx, m, w, out, inp, N, m.fused_nf4_gemm.forward);
}

void base_linear_backward_inp(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                              bf16* dinp, const bf16* dout, int64_t N) {
  base_linear_backward_inp_via(cx, m, w, dinp, dout, N, m.fused_nf4_gemm.backward_inp);
}

void base_linear_forward_via(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                             bf16* out, const bf16* inp, int64_t N, bool fused) {
  if (!w.quantized()) {
    gemm_forward_cuda(cx, out, inp, w.dense.as<bf16>(), w.bias.as<bf16>(), N, w.C, w.OC);
    return;
  }
  const size_t mark = cx.arena().mark();
  auto absmax = cx.arena().alloc_array<float>(size_t(w.nblocks()));
  if (!absmax.ok()) {
    cx.record_error(absmax.error().with_context("base_linear_forward absmax scratch"));
    return;
  }
  nf4_absmax_dequantize_cuda(cx, *absmax, w.qabsmax.as<uint8_t>(), m.code8.as<float>(),
                             w.nested_absmax.as<float>(), w.offset, w.nblocks());
  if (fused &&
      nf4_gemm_mma_forward_check(out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC).ok())
    nf4_gemm_mma_forward_cuda(cx, out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  else
    nf4_gemm_forward_cuda(cx, out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  cx.arena().rewind(mark);  // stream-ordered: the GEMM reads the scratch before any reuse
  if (w.bias.get() != nullptr) gemm_add_bias_cuda(cx, out, w.bias.as<bf16>(), N, w.OC);
}

void base_linear_backward_inp_via(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                                  bf16* dinp, const bf16* dout, int64_t N, bool fused) {
  if (!w.quantized()) {
    gemm_backward_inp_cuda(cx, dinp, dout, w.dense.as<bf16>(), N, w.C, w.OC);
    return;
  }
  const size_t mark = cx.arena().mark();
  auto absmax = cx.arena().alloc_array<float>(size_t(w.nblocks()));
  if (!absmax.ok()) {
    cx.record_error(absmax.error().with_context("base_linear_backward_inp absmax scratch"));
    return;
  }
  nf4_absmax_dequantize_cuda(cx, *absmax, w.qabsmax.as<uint8_t>(), m.code8.as<float>(),
                             w.nested_absmax.as<float>(), w.offset, w.nblocks());
  if (fused &&
      nf4_gemm_mma_backward_inp_check(dinp, dout, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC)
          .ok())
    nf4_gemm_mma_backward_inp_cuda(cx, dinp, dout, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  else
    nf4_gemm_backward_inp_cuda(cx, dinp, dout, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  cx.arena().rewind(mark);
}

void gpu_model_refresh_lora(cuda_context& cx, gpu_model& m) {
  for (gpu_layer& ly : m.layers)
    for (int t = 0; t < kLoraTargets; ++t) {
      gpu_lora_linear& a = ly.lora(t);
      f32_to_bf16_cuda(cx, a.A.as<bf16>(), a.A_master.as<float>(), a.r * a.in);
      f32_to_bf16_cuda(cx, a.B.as<bf16>(), a.B_master.as<float>(), a.out * a.r);
    }
}

void gpu_model_zero_lora_grads(cuda_context& cx, gpu_model& m) {
  for (gpu_layer& ly : m.layers)
    for (int t = 0; t < kLoraTargets; ++t) {
      gpu_lora_linear& a = ly.lora(t);
      CUDA_CHECK(cudaMemsetAsync(a.dA.get(), 0, a.dA.bytes(), cx.stream()));
      CUDA_CHECK(cudaMemsetAsync(a.dB.get(), 0, a.dB.bytes(), cx.stream()));
    }
}

}  // namespace kaito::gpu
