// gpu_model (contract: engine/cuda/gpu_model.h): allocation, random and host-built models, the
// NF4 linear helpers and the LoRA refresh.
#include "engine/cuda/gpu_model.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/cuda/cuda_try.h"
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

// Double quantization's centering, one CTA of kMeanThreads: offset = float(fp64 sum / n) (fixed
// summation order: strided per thread, then a tree), then absmax[b] -= offset in fp32.
constexpr int kMeanThreads = 1024;
__global__ void __launch_bounds__(kMeanThreads)
    mean_center_kernel(float* absmax, float* offset_out, int64_t n) {
  __shared__ double red[kMeanThreads];
  __shared__ float offset;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kMeanThreads) s += double(absmax[i]);
  red[threadIdx.x] = s;
  __syncthreads();
  for (int w = kMeanThreads / 2; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) red[threadIdx.x] += red[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    offset = float(red[0] / double(n));
    *offset_out = offset;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += kMeanThreads) absmax[i] = __fsub_rn(absmax[i], offset);
}

// Upload of host bytes, ordered on cx's (non-blocking) stream and finished before returning (the
// host buffer may go away).
status upload(cuda_context& cx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return {};
  GPU_TRY_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cx.stream()));
  GPU_TRY_CUDA(cudaStreamSynchronize(cx.stream()));
  return {};
}

status alloc_into(device_buffer& b, size_t bytes, const std::string& what) {
  KAITO_ASSIGN_OR_RETURN(b, device_buffer::alloc(bytes, what));
  return {};
}

std::string layer_name(int64_t l, const char* what) {
  return "layers[" + std::to_string(l) + "]." + what;
}

const char* const kTargetNames[kLoraTargets] = {"qkv", "o", "gate_up", "down"};

// The parts shared by both builders: norms, embed, lm_head, code8, rope tables, and every
// layer's buffers (contents unset).
status alloc_model(cuda_context& cx, gpu_model& m) {
  const gpu_model_shape& s = m.shape;
  KAITO_TRY(alloc_into(m.embed, size_t(s.V * s.C) * sizeof(bf16), "embed"));
  KAITO_TRY(alloc_into(m.lm_head, size_t(s.V * s.C) * sizeof(bf16), "lm_head"));
  KAITO_TRY(alloc_into(m.final_norm, size_t(s.C) * sizeof(bf16), "final_norm"));
  KAITO_TRY(alloc_into(m.code8, 256 * sizeof(float), "code8"));
  std::vector<float> code8(256);
  dynamic_map_signed(code8.data());
  KAITO_TRY(upload(cx, m.code8.get(), code8.data(), 256 * sizeof(float)));
  // The rope tables for positions 0..max_T-1 (engine/cuda/rope_tables.h).
  const rope_tables rt = make_rope_tables(s.rope, s.HS, m.max_T);
  auto table = [&](device_buffer& dst, const std::vector<float>& src, const char* what) -> status {
    if (src.empty()) return {};
    KAITO_TRY(alloc_into(dst, src.size() * sizeof(float), what));
    return upload(cx, dst.get(), src.data(), src.size() * sizeof(float));
  };
  KAITO_TRY(table(m.rope_cos, rt.cos, "rope_cos"));
  KAITO_TRY(table(m.rope_sin, rt.sin, "rope_sin"));
  KAITO_TRY(table(m.rope_cos_long, rt.cos_long, "rope_cos_long"));
  KAITO_TRY(table(m.rope_sin_long, rt.sin_long, "rope_sin_long"));

  m.layers.resize(size_t(s.L));
  for (int64_t l = 0; l < s.L; ++l) {
    gpu_layer& ly = m.layers[size_t(l)];
    KAITO_TRY(alloc_into(ly.input_norm, size_t(s.C) * sizeof(bf16), layer_name(l, "input_norm")));
    KAITO_TRY(alloc_into(ly.post_norm, size_t(s.C) * sizeof(bf16), layer_name(l, "post_norm")));
    for (int t = 0; t < kLoraTargets; ++t) {
      const linear_dims d = target_dims(s, t);
      const std::string name = layer_name(l, kTargetNames[t]);
      gpu_base_linear& w = ly.base(t);
      w.OC = d.out;
      w.C = d.in;
      if (s.quantized_base) {
        KAITO_TRY(alloc_into(w.packed, size_t((w.numel() + 1) / 2), name + ".packed"));
        KAITO_TRY(alloc_into(w.qabsmax, size_t(w.nblocks()), name + ".qabsmax"));
        KAITO_TRY(alloc_into(w.nested_absmax,
                             size_t(ceil_div<int64_t>(w.nblocks(), nf4_nested_block_size)) * 4,
                             name + ".nested_absmax"));
      } else {
        KAITO_TRY(alloc_into(w.dense, size_t(w.numel()) * sizeof(bf16), name + ".dense"));
      }
      if (s.qkv_bias && t == lora_qkv)
        KAITO_TRY(alloc_into(w.bias, size_t(w.OC) * sizeof(bf16), name + ".bias"));
      gpu_lora_linear& a = ly.lora(t);
      a.r = s.lora_rank(t);
      a.blocks = lora_blocks_of(s, t);
      a.in = d.in;
      a.out = d.out;
      const size_t na = size_t(a.r * a.in), nb = size_t(a.out * a.r);
      KAITO_TRY(alloc_into(a.A, na * sizeof(bf16), name + ".lora_A"));
      KAITO_TRY(alloc_into(a.B, nb * sizeof(bf16), name + ".lora_B"));
      KAITO_TRY(alloc_into(a.A_master, na * sizeof(float), name + ".lora_A.master"));
      KAITO_TRY(alloc_into(a.B_master, nb * sizeof(float), name + ".lora_B.master"));
      KAITO_TRY(alloc_into(a.dA, na * sizeof(float), name + ".lora_A.grad"));
      KAITO_TRY(alloc_into(a.dB, nb * sizeof(float), name + ".lora_B.grad"));
    }
  }
  return {};
}

// Double quantization of the fp32 device weight w into lin (nf4_quantize_weight's recipe).
// absmax: nblocks fp32 scratch; offset_dev: one fp32.
status quantize_dq_device(cuda_context& cx, const gpu_model& m, gpu_base_linear& lin,
                          const float* w, float* absmax, float* offset_dev) {
  const int64_t n = lin.numel(), nb = lin.nblocks();
  nf4_quantize_cuda(cx, lin.packed.as<uint8_t>(), absmax, w, n);
  KAITO_LAUNCH(1, kMeanThreads, 0, cx.stream(), mean_center_kernel)(absmax, offset_dev, nb);
  GPU_TRY_CUDA(cudaGetLastError());
  quantize_blockwise_8bit_cuda(cx, lin.qabsmax.as<uint8_t>(), lin.nested_absmax.as<float>(), absmax,
                               m.code8.as<float>(), nb, nf4_nested_block_size);
  GPU_TRY_CUDA(
      cudaMemcpyAsync(&lin.offset, offset_dev, sizeof(float), cudaMemcpyDeviceToHost, cx.stream()));
  return cx.synchronize();  // the offset is read on the host; launcher errors surface here
}

// LoRA masters from host fp32 values, bf16 copies from the masters, grads zero.
status upload_lora(cuda_context& cx, gpu_lora_linear& a, const std::vector<float>& A,
                   const std::vector<float>& B) {
  KAITO_TRY(upload(cx, a.A_master.get(), A.data(), A.size() * sizeof(float)));
  KAITO_TRY(upload(cx, a.B_master.get(), B.data(), B.size() * sizeof(float)));
  f32_to_bf16_cuda(cx, a.A.as<bf16>(), a.A_master.as<float>(), a.r * a.in);
  f32_to_bf16_cuda(cx, a.B.as<bf16>(), a.B_master.as<float>(), a.out * a.r);
  GPU_TRY_CUDA(cudaMemsetAsync(a.dA.get(), 0, a.dA.bytes(), cx.stream()));
  GPU_TRY_CUDA(cudaMemsetAsync(a.dB.get(), 0, a.dB.bytes(), cx.stream()));
  return cx.synchronize();
}

status upload_bf16(cuda_context& cx, device_buffer& dst, const std::vector<float>& src) {
  std::vector<bf16> h(src.size());
  f32_to_bf16_cpu(h.data(), src.data(), int64_t(src.size()));
  return upload(cx, dst.get(), h.data(), h.size() * sizeof(bf16));
}

}  // namespace

result<gpu_model> gpu_model_random(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                   uint64_t seed, bool lora_b_zero) {
  KAITO_TRY(shape.validate());
  if (max_T <= 0) return invalid_argument("max_T must be positive", "max_T");
  gpu_model m;
  m.shape = shape;
  m.max_T = max_T;
  KAITO_TRY(alloc_model(cx, m));
  const float a = kRandomWeightBound;
  const int64_t VC = shape.V * shape.C;
  KAITO_LAUNCH(grid_for(VC), 256, 0, cx.stream(), uniform_bf16_kernel)
  (as_nv(m.embed.as<bf16>()), VC, rng_derive(seed, 1), -a, 2 * a);
  KAITO_LAUNCH(grid_for(VC), 256, 0, cx.stream(), uniform_bf16_kernel)
  (as_nv(m.lm_head.as<bf16>()), VC, rng_derive(seed, 2), -a, 2 * a);
  KAITO_LAUNCH(grid_for(shape.C), 256, 0, cx.stream(), fill_bf16_kernel)
  (as_nv(m.final_norm.as<bf16>()), shape.C, 1.0f);
  GPU_TRY_CUDA(cudaGetLastError());

  int64_t max_n = 0;
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(shape, t);
    max_n = std::max(max_n, d.out * d.in);
  }
  KAITO_ASSIGN_OR_RETURN(device_buffer wbuf,
                         device_buffer::alloc(size_t(max_n) * sizeof(float), "random weight"));
  KAITO_ASSIGN_OR_RETURN(
      device_buffer abuf,
      device_buffer::alloc((size_t(ceil_div<int64_t>(max_n, 64)) + 64) * sizeof(float), "absmax"));
  float* offset_dev = abuf.as<float>();  // the first 256 bytes; absmax after them
  float* absmax = abuf.as<float>() + 64;
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
      (wbuf.as<float>(), w.numel(), rng_derive(seed, tag), -a, 2 * a);
      GPU_TRY_CUDA(cudaGetLastError());
      if (w.quantized())
        KAITO_TRY(quantize_dq_device(cx, m, w, wbuf.as<float>(), absmax, offset_dev));
      else
        f32_to_bf16_cuda(cx, w.dense.as<bf16>(), wbuf.as<float>(), w.numel());
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
      KAITO_TRY(upload_lora(cx, lo, A, B));
    }
  }
  KAITO_TRY(cx.synchronize());
  return std::move(m);  // explicit: nvcc does not apply C++20 implicit move here
}

result<gpu_model> gpu_model_from_host(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                      const host_model_weights& w) {
  KAITO_TRY(shape.validate());
  if (max_T <= 0) return invalid_argument("max_T must be positive", "max_T");
  auto check = [](const std::vector<float>& v, int64_t want, const std::string& name) -> status {
    if (int64_t(v.size()) != want)
      return invalid_argument(
          "expected " + std::to_string(want) + " values, got " + std::to_string(v.size()), name);
    return {};
  };
  const gpu_model_shape& s = shape;
  KAITO_TRY(check(w.embed, s.V * s.C, "embed"));
  KAITO_TRY(check(w.lm_head, s.V * s.C, "lm_head"));
  KAITO_TRY(check(w.final_norm, s.C, "final_norm"));
  if (int64_t(w.layers.size()) != s.L)
    return invalid_argument("expected " + std::to_string(s.L) + " layers", "layers");
  for (int64_t l = 0; l < s.L; ++l) {
    const host_layer_weights& h = w.layers[size_t(l)];
    KAITO_TRY(check(h.input_norm, s.C, layer_name(l, "input_norm")));
    KAITO_TRY(check(h.post_norm, s.C, layer_name(l, "post_norm")));
    KAITO_TRY(check(h.qkv_bias, s.qkv_bias ? s.qkv_dim() : 0, layer_name(l, "qkv_bias")));
    const std::vector<float>* base[kLoraTargets] = {&h.qkv, &h.o, &h.gate_up, &h.down};
    for (int t = 0; t < kLoraTargets; ++t) {
      const linear_dims d = target_dims(s, t);
      const std::string name = layer_name(l, kTargetNames[t]);
      KAITO_TRY(check(*base[t], d.out * d.in, name));
      const int64_t R = s.lora_rank(t);
      KAITO_TRY(check(h.lora_A[t], R * d.in, name + ".lora_A"));
      KAITO_TRY(check(h.lora_B[t], d.out * R, name + ".lora_B"));
      std::vector<float> masked = h.lora_B[t];
      lora_block_mask_cpu(masked.data(), d.out, R, lora_blocks_of(s, t));
      if (masked != h.lora_B[t])
        return invalid_argument("split_lora: lora_B must be zero outside its modules' blocks",
                                name + ".lora_B");
    }
  }
  gpu_model m;
  m.shape = shape;
  m.max_T = max_T;
  KAITO_TRY(alloc_model(cx, m));
  KAITO_TRY(upload_bf16(cx, m.embed, w.embed));
  KAITO_TRY(upload_bf16(cx, m.lm_head, w.lm_head));
  KAITO_TRY(upload_bf16(cx, m.final_norm, w.final_norm));
  for (int64_t l = 0; l < s.L; ++l) {
    const host_layer_weights& h = w.layers[size_t(l)];
    gpu_layer& ly = m.layers[size_t(l)];
    KAITO_TRY(upload_bf16(cx, ly.input_norm, h.input_norm));
    KAITO_TRY(upload_bf16(cx, ly.post_norm, h.post_norm));
    const std::vector<float>* base[kLoraTargets] = {&h.qkv, &h.o, &h.gate_up, &h.down};
    for (int t = 0; t < kLoraTargets; ++t) {
      gpu_base_linear& lin = ly.base(t);
      if (lin.quantized()) {
        const nf4_quant_state qs =
            nf4_quantize_weight(base[t]->data(), {lin.OC, lin.C}, dtype::bf16, true);
        KAITO_TRY(upload(cx, lin.packed.get(), qs.packed.data(), qs.packed.size()));
        KAITO_TRY(upload(cx, lin.qabsmax.get(), qs.qabsmax.data(), qs.qabsmax.size()));
        KAITO_TRY(upload(cx, lin.nested_absmax.get(), qs.nested_absmax.data(),
                         qs.nested_absmax.size() * sizeof(float)));
        lin.offset = qs.nested_offset;
      } else {
        KAITO_TRY(upload_bf16(cx, lin.dense, *base[t]));
      }
      if (t == lora_qkv && s.qkv_bias) KAITO_TRY(upload_bf16(cx, lin.bias, h.qkv_bias));
      KAITO_TRY(upload_lora(cx, ly.lora(t), h.lora_A[t], h.lora_B[t]));
    }
  }
  KAITO_TRY(cx.synchronize());
  return std::move(m);  // explicit: nvcc does not apply C++20 implicit move here
}

void base_linear_forward(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w, bf16* out,
                         const bf16* inp, int64_t N) {
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
  if (m.fused_nf4_gemm &&
      nf4_gemm_mma_forward_check(out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC).ok())
    nf4_gemm_mma_forward_cuda(cx, out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  else
    nf4_gemm_forward_cuda(cx, out, inp, w.packed.as<uint8_t>(), *absmax, N, w.C, w.OC);
  cx.arena().rewind(mark);  // stream-ordered: the GEMM reads the scratch before any reuse
  if (w.bias.get() != nullptr) gemm_add_bias_cuda(cx, out, w.bias.as<bf16>(), N, w.OC);
}

void base_linear_backward_inp(cuda_context& cx, const gpu_model& m, const gpu_base_linear& w,
                              bf16* dinp, const bf16* dout, int64_t N) {
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
  if (m.fused_nf4_gemm &&
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
