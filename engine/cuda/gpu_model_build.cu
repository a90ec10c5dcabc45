// gpu_model (contract: engine/cuda/gpu_model.h): models built from host values, piece by piece
// (gpu_model_alloc, gpu_model_upload_globals, gpu_model_upload_layer) or at once
// (gpu_model_from_host), and the LoRA masters and grads read back (gpu_model_download_lora*) or
// grads set (gpu_model_set_lora_grads).
#include <cuda_bf16.h>

#include <algorithm>
#include <string>
#include <utility>

#include "engine/cuda/cuda_try.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/gpu_model_build.h"
#include "engine/cuda/rope_tables.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/lora.h"
#include "kernels/nf4.h"

namespace kaito::gpu {

namespace {

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
  const rope_tables rt = make_rope_tables(s.rope, s.rotary_dim(), m.max_T);
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

status upload_bf16(cuda_context& cx, device_buffer& dst, const std::vector<float>& src) {
  std::vector<bf16> h(src.size());
  f32_to_bf16_cpu(h.data(), src.data(), int64_t(src.size()));
  return upload(cx, dst.get(), h.data(), h.size() * sizeof(bf16));
}

status check_size(const std::vector<float>& v, int64_t want, const std::string& name) {
  if (int64_t(v.size()) != want)
    return invalid_argument(
        "expected " + std::to_string(want) + " values, got " + std::to_string(v.size()), name);
  return {};
}

// A (R, in) and B (out, R) of lora_target t, and split_lora's zeros outside B's blocks.
status check_lora(const gpu_model_shape& s, int64_t l, int t, const std::vector<float>& A,
                  const std::vector<float>& B) {
  const linear_dims d = target_dims(s, t);
  const std::string name = layer_name(l, kTargetNames[t]);
  const int64_t R = s.lora_rank(t);
  KAITO_TRY(check_size(A, R * d.in, name + ".lora_A"));
  KAITO_TRY(check_size(B, d.out * R, name + ".lora_B"));
  std::vector<float> masked = B;
  lora_block_mask_cpu(masked.data(), d.out, R, lora_blocks_of(s, t));
  if (masked != B)
    return invalid_argument("split_lora: lora_B must be zero outside its modules' blocks",
                            name + ".lora_B");
  return {};
}

// Layer l's sizes against the shape, and split_lora's zeros outside the blocks.
status check_layer(const gpu_model_shape& s, int64_t l, const host_layer_weights& h) {
  KAITO_TRY(check_size(h.input_norm, s.C, layer_name(l, "input_norm")));
  KAITO_TRY(check_size(h.post_norm, s.C, layer_name(l, "post_norm")));
  KAITO_TRY(check_size(h.qkv_bias, s.qkv_bias ? s.qkv_dim() : 0, layer_name(l, "qkv_bias")));
  const std::vector<float>* base[kLoraTargets] = {&h.qkv, &h.o, &h.gate_up, &h.down};
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(s, t);
    const std::string name = layer_name(l, kTargetNames[t]);
    KAITO_TRY(check_size(*base[t], d.out * d.in, name));
    KAITO_TRY(check_lora(s, l, t, h.lora_A[t], h.lora_B[t]));
  }
  return {};
}

}  // namespace

namespace detail {

int64_t max_linear_numel(const gpu_model_shape& s) {
  int64_t n = 0;
  for (int t = 0; t < kLoraTargets; ++t) {
    const linear_dims d = target_dims(s, t);
    n = std::max(n, d.out * d.in);
  }
  return n;
}

result<quantize_scratch> alloc_quantize_scratch(int64_t max_numel) {
  quantize_scratch s;
  KAITO_ASSIGN_OR_RETURN(
      s.weight, device_buffer::alloc(size_t(max_numel) * sizeof(float), "quantize weight"));
  KAITO_ASSIGN_OR_RETURN(
      s.absmax,
      device_buffer::alloc((size_t(ceil_div<int64_t>(max_numel, 64)) + 64) * sizeof(float),
                           "quantize absmax"));
  return std::move(s);  // explicit: nvcc does not apply C++20 implicit move here
}

status quantize_dq_device(cuda_context& cx, const gpu_model& m, gpu_base_linear& lin,
                          const float* w, const quantize_scratch& s) {
  const int64_t n = lin.numel(), nb = lin.nblocks();
  if (s.weight.bytes() < size_t(n) * sizeof(float))
    return invalid_argument("quantize scratch smaller than the linear", "quantize_scratch");
  float* absmax = s.blocks();
  nf4_quantize_cuda(cx, lin.packed.as<uint8_t>(), absmax, w, n);
  KAITO_LAUNCH(1, kMeanThreads, 0, cx.stream(), mean_center_kernel)(absmax, s.offset(), nb);
  GPU_TRY_CUDA(cudaGetLastError());
  quantize_blockwise_8bit_cuda(cx, lin.qabsmax.as<uint8_t>(), lin.nested_absmax.as<float>(), absmax,
                               m.code8.as<float>(), nb, nf4_nested_block_size);
  GPU_TRY_CUDA(
      cudaMemcpyAsync(&lin.offset, s.offset(), sizeof(float), cudaMemcpyDeviceToHost, cx.stream()));
  return cx.synchronize();  // the offset is read on the host; launcher errors surface here
}

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

}  // namespace detail

result<gpu_model> gpu_model_alloc(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T) {
  KAITO_TRY(shape.validate());
  if (max_T <= 0) return invalid_argument("max_T must be positive", "max_T");
  gpu_model m;
  m.shape = shape;
  m.max_T = max_T;
  KAITO_TRY(alloc_model(cx, m));
  return std::move(m);  // explicit: nvcc does not apply C++20 implicit move here
}

status gpu_model_upload_globals(cuda_context& cx, gpu_model& m, const std::vector<float>& embed,
                                const std::vector<float>& final_norm,
                                const std::vector<float>& lm_head) {
  const gpu_model_shape& s = m.shape;
  KAITO_TRY(check_size(embed, s.V * s.C, "embed"));
  KAITO_TRY(check_size(lm_head, s.V * s.C, "lm_head"));
  KAITO_TRY(check_size(final_norm, s.C, "final_norm"));
  KAITO_TRY(upload_bf16(cx, m.embed, embed));
  KAITO_TRY(upload_bf16(cx, m.lm_head, lm_head));
  return upload_bf16(cx, m.final_norm, final_norm);
}

status gpu_model_upload_layer(cuda_context& cx, gpu_model& m, int64_t l,
                              const host_layer_weights& h, nf4_quantizer where) {
  const gpu_model_shape& s = m.shape;
  if (l < 0 || l >= int64_t(m.layers.size()))
    return invalid_argument(
        "no layer " + std::to_string(l) + " in a model of " + std::to_string(m.layers.size()),
        "layers");
  KAITO_TRY(check_layer(s, l, h));
  gpu_layer& ly = m.layers[size_t(l)];
  KAITO_TRY(upload_bf16(cx, ly.input_norm, h.input_norm));
  KAITO_TRY(upload_bf16(cx, ly.post_norm, h.post_norm));
  detail::quantize_scratch qs;
  if (s.quantized_base && where == nf4_quantizer::device) {
    KAITO_ASSIGN_OR_RETURN(qs, detail::alloc_quantize_scratch(detail::max_linear_numel(s)));
  }
  const std::vector<float>* base[kLoraTargets] = {&h.qkv, &h.o, &h.gate_up, &h.down};
  for (int t = 0; t < kLoraTargets; ++t) {
    gpu_base_linear& lin = ly.base(t);
    if (!lin.quantized()) {
      KAITO_TRY(upload_bf16(cx, lin.dense, *base[t]));
    } else if (where == nf4_quantizer::device) {
      KAITO_TRY(upload(cx, qs.weight.get(), base[t]->data(), base[t]->size() * sizeof(float)));
      KAITO_TRY(detail::quantize_dq_device(cx, m, lin, qs.weight.as<float>(), qs));
    } else {
      const nf4_quant_state q =
          nf4_quantize_weight(base[t]->data(), {lin.OC, lin.C}, dtype::bf16, true);
      KAITO_TRY(upload(cx, lin.packed.get(), q.packed.data(), q.packed.size()));
      KAITO_TRY(upload(cx, lin.qabsmax.get(), q.qabsmax.data(), q.qabsmax.size()));
      KAITO_TRY(upload(cx, lin.nested_absmax.get(), q.nested_absmax.data(),
                       q.nested_absmax.size() * sizeof(float)));
      lin.offset = q.nested_offset;
    }
    if (t == lora_qkv && s.qkv_bias) KAITO_TRY(upload_bf16(cx, lin.bias, h.qkv_bias));
    KAITO_TRY(detail::upload_lora(cx, ly.lora(t), h.lora_A[t], h.lora_B[t]));
  }
  return cx.synchronize();
}

result<gpu_model> gpu_model_from_host(cuda_context& cx, const gpu_model_shape& shape, int64_t max_T,
                                      const host_model_weights& w) {
  KAITO_TRY(shape.validate());
  if (int64_t(w.layers.size()) != shape.L)
    return invalid_argument("expected " + std::to_string(shape.L) + " layers", "layers");
  // Every size before any device work (the uploads check again).
  KAITO_TRY(check_size(w.embed, shape.V * shape.C, "embed"));
  KAITO_TRY(check_size(w.lm_head, shape.V * shape.C, "lm_head"));
  KAITO_TRY(check_size(w.final_norm, shape.C, "final_norm"));
  for (int64_t l = 0; l < shape.L; ++l) KAITO_TRY(check_layer(shape, l, w.layers[size_t(l)]));
  KAITO_ASSIGN_OR_RETURN(gpu_model m, gpu_model_alloc(cx, shape, max_T));
  KAITO_TRY(gpu_model_upload_globals(cx, m, w.embed, w.final_norm, w.lm_head));
  for (int64_t l = 0; l < shape.L; ++l)
    KAITO_TRY(gpu_model_upload_layer(cx, m, l, w.layers[size_t(l)], nf4_quantizer::host));
  return std::move(m);  // explicit: nvcc does not apply C++20 implicit move here
}

status check_lora_target(const gpu_model& m, int64_t l, int t) {
  if (l < 0 || l >= int64_t(m.layers.size()) || t < 0 || t >= kLoraTargets)
    return invalid_argument("no LoRA (" + std::to_string(l) + ", " + std::to_string(t) + ")",
                            "layers");
  return {};
}

status gpu_model_set_lora(cuda_context& cx, gpu_model& m, int64_t l, int t, const lora_pair& p) {
  KAITO_TRY(check_lora_target(m, l, t));
  KAITO_TRY(check_lora(m.shape, l, t, p.A, p.B));
  return detail::upload_lora(cx, m.layers[size_t(l)].lora(t), p.A, p.B);
}

namespace {

// lora_target t of layer l's fp32 pair (masters or grads) to the host.
result<lora_pair> download_lora_pair(cuda_context& cx, const gpu_model& m, int64_t l, int t,
                                     bool grads) {
  KAITO_TRY(check_lora_target(m, l, t));
  const gpu_lora_linear& a = m.layers[size_t(l)].lora(t);
  lora_pair p;
  p.A.resize(size_t(a.r * a.in));
  p.B.resize(size_t(a.out * a.r));
  GPU_TRY_CUDA(cudaMemcpyAsync(p.A.data(), (grads ? a.dA : a.A_master).get(),
                               p.A.size() * sizeof(float), cudaMemcpyDeviceToHost, cx.stream()));
  GPU_TRY_CUDA(cudaMemcpyAsync(p.B.data(), (grads ? a.dB : a.B_master).get(),
                               p.B.size() * sizeof(float), cudaMemcpyDeviceToHost, cx.stream()));
  KAITO_TRY(cx.synchronize());
  return p;
}

}  // namespace

result<lora_pair> gpu_model_download_lora(cuda_context& cx, const gpu_model& m, int64_t l, int t) {
  return download_lora_pair(cx, m, l, t, false);
}

result<lora_pair> gpu_model_download_lora_grads(cuda_context& cx, const gpu_model& m, int64_t l,
                                                int t) {
  return download_lora_pair(cx, m, l, t, true);
}

status gpu_model_set_lora_grads(cuda_context& cx, gpu_model& m, int64_t l, int t,
                                const lora_pair& grads) {
  KAITO_TRY(check_lora_target(m, l, t));
  KAITO_TRY(check_lora(m.shape, l, t, grads.A, grads.B));
  gpu_lora_linear& a = m.layers[size_t(l)].lora(t);
  GPU_TRY_CUDA(cudaMemcpyAsync(a.dA.get(), grads.A.data(), grads.A.size() * sizeof(float),
                               cudaMemcpyHostToDevice, cx.stream()));
  GPU_TRY_CUDA(cudaMemcpyAsync(a.dB.get(), grads.B.data(), grads.B.size() * sizeof(float),
                               cudaMemcpyHostToDevice, cx.stream()));
  return cx.synchronize();
}

}  // namespace kaito::gpu
