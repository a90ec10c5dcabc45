// gpu_generator's layers (engine/cuda/infer_impl.h): one layer's prefill and decode, composed
// from kaito_kernels_cuda launchers and engine/cuda/infer_ops.h, and the head.
// Prefill (host positions): qkv_split_bf16 (engine/cuda/train_ops.h), rope_forward_cuda per
// sequence, tensor-core attention (SIMT for other head sizes), k/v copied into the cache
// (cudaMemcpy2DAsync); gpu_batch_decoder's prefill of one chunk into one cache slot
// (layer_prefill_slot, paged: the chunk's rows are scattered into the slot's blocks,
// kv_cache_write_cuda, and a chunk after the first attends over them through the block table,
// attention_forward_paged_mma_cuda on the tensor cores, attention_forward_paged_cuda for a few
// queries or other head sizes). Decode (device
// positions, infer_ops.h decode_rows): decode_qkv_cuda (split + rope + cache append in one kernel)
// and attention_decode_cuda (attention_decode_rows_cuda with a slot and key count per row), so
// that the whole step can be captured once as a CUDA graph and replayed at every position.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda/infer_impl.h"
#include "engine/cuda/infer_ops.h"
#include "engine/cuda/train_ops.h"
#include "kernels/attention.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::gpu {

// A later prefill chunk of at least this many queries attends on the tensor cores (one block per
// 64 queries and head); fewer go to the SIMT kernel, which splits each query's keys across
// blocks. A guess between the two until parity_test --perf's attn_prefill_{paged,pmma} rows at
// 16 and 512 queries are read on an H200.
constexpr int64_t kPagedMmaMinRows = 16;

void gpu_generator::impl::linear(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N,
                                 bool decode) {
  base(ly, t, out, in, N, decode);
  if (!opt.lora) return;
  mark("lora");
  const gpu_lora_linear& l = ly.lora(t);
  if (decode_lora(l, N, decode)) {  // one kernel, not two cuBLASLt calls (kernels/lora.h)
    lora_decode_cuda(cx, out, in, l.A.as<bf16>(), l.B.as<bf16>(), N, l.in, l.r, l.out,
                     m.shape.lora_scale());
    return;
  }
  lora_forward_cuda(cx, out, nullptr, z.as<bf16>(), in, l.A.as<bf16>(), l.B.as<bf16>(), N, l.in,
                    l.r, l.out, m.shape.lora_scale(), 0.0f, 0);
}

void gpu_generator::impl::base(const gpu_layer& ly, int t, bf16* out, const bf16* in, int64_t N,
                               bool decode) {
  const gpu_base_linear& w = ly.base(t);
  mark(decode ? "base linear (decode)" : "base linear");
  if (decode && w.quantized() && N <= opt.gemv_max_batch && w.C % 128 == 0) {
    for (int64_t b0 = 0; b0 < N; b0 += 16)
      nf4_dq_gemv_cuda(cx, out + b0 * w.OC, in + b0 * w.C, w.packed.as<uint8_t>(),
                       w.qabsmax.as<uint8_t>(), m.code8.as<float>(), w.nested_absmax.as<float>(),
                       w.offset, std::min<int64_t>(16, N - b0), w.C, w.OC, gemv.kernel);
    if (w.bias.get() != nullptr) gemm_add_bias_cuda(cx, out, w.bias.as<bf16>(), N, w.OC);
  } else {  // prefill: the path measured for it; a decode batch past the GEMV: the model's
    base_linear_forward_via(cx, m, w, out, in, N,
                            decode ? m.fused_nf4_gemm.forward : prefill_gemm.fused);
  }
}

void gpu_generator::impl::residual(int64_t n) {
  add_bf16(cx, x.as<bf16>(), x.as<bf16>(), tmp.as<bf16>(), n);
}

void gpu_generator::impl::layer_input_norm(int64_t l, const bf16* norm, int64_t N) {
  const gpu_model_shape& s = m.shape;
  if (l == 0) {
    mark("rmsnorm + residual");
    rmsnorm_forward_cuda(cx, h.as<bf16>(), nullptr, x.as<bf16>(), norm, N, s.C, s.rms_eps);
  } else {
    residual_norm(norm, N);
  }
}

void gpu_generator::impl::residual_norm(const bf16* norm, int64_t N) {
  const gpu_model_shape& s = m.shape;
  if (pending_down != nullptr) {
    const gpu_lora_linear& l = *pending_down;
    pending_down = nullptr;
    mark("lora + rmsnorm + residual");
    lora_decode_add_rmsnorm_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(),
                                 tmp.as<bf16>(), norm, N, s.C, s.rms_eps, act.as<bf16>(),
                                 l.A.as<bf16>(), l.B.as<bf16>(), l.in, l.r, s.lora_scale());
    return;
  }
  mark("rmsnorm + residual");
  add_rmsnorm_forward_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(), tmp.as<bf16>(),
                           norm, N, s.C, s.rms_eps);
}

void gpu_generator::impl::layer_tail(const gpu_layer& ly, int64_t N, bool decode) {
  const gpu_model_shape& s = m.shape;
  if (fuse_lora(ly.lora(lora_o), N, decode)) {  // o's LoRA term in the residual + norm kernel
    base(ly, lora_o, tmp.as<bf16>(), att.as<bf16>(), N, decode);
    const gpu_lora_linear& l = ly.lora(lora_o);
    mark("lora + rmsnorm + residual");
    lora_decode_add_rmsnorm_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(),
                                 tmp.as<bf16>(), ly.post_norm.as<bf16>(), N, s.C, s.rms_eps,
                                 att.as<bf16>(), l.A.as<bf16>(), l.B.as<bf16>(), l.in, l.r,
                                 s.lora_scale());
  } else {
    linear(ly, lora_o, tmp.as<bf16>(), att.as<bf16>(), N, decode);
    mark("rmsnorm + residual");
    add_rmsnorm_forward_cuda(cx, x.as<bf16>(), h.as<bf16>(), nullptr, x.as<bf16>(), tmp.as<bf16>(),
                             ly.post_norm.as<bf16>(), N, s.C, s.rms_eps);
  }
  const gpu_lora_linear& lgu = ly.lora(lora_gate_up);
  if (fuse_lora(lgu, N, decode)) {
    // gate_up's LoRA term and the activation in one kernel (bit for bit the two below)
    base(ly, lora_gate_up, gu.as<bf16>(), h.as<bf16>(), N, decode);
    mark("lora + swiglu");
    lora_decode_swiglu_cuda(cx, act.as<bf16>(), gu.as<bf16>(), h.as<bf16>(), lgu.A.as<bf16>(),
                            lgu.B.as<bf16>(), N, lgu.in, lgu.r, lgu.out, s.lora_scale());
  } else {
    linear(ly, lora_gate_up, gu.as<bf16>(), h.as<bf16>(), N, decode);
    mark("swiglu");
    swiglu_forward_cuda(cx, act.as<bf16>(), gu.as<bf16>(), gu.as<bf16>() + s.I, N, s.I, 2 * s.I);
  }
  // x += tmp is left to the next layer's input norm (or, after the last layer, to the caller),
  // and with fused_decode so is down's LoRA term (residual_norm)
  if (fuse_lora(ly.lora(lora_down), N, decode)) {
    base(ly, lora_down, tmp.as<bf16>(), act.as<bf16>(), N, decode);
    pending_down = &ly.lora(lora_down);
  } else {
    linear(ly, lora_down, tmp.as<bf16>(), act.as<bf16>(), N, decode);
  }
}

void gpu_generator::impl::layer_prefill(int64_t l, int64_t B, int64_t T) {
  const gpu_model_shape& s = m.shape;
  const gpu_layer& ly = m.layers[size_t(l)];
  const int64_t N = B * T, qd = s.q_dim(), kvd = s.kv_dim();
  const size_t b2 = sizeof(bf16);
  layer_input_norm(l, ly.input_norm.as<bf16>(), N);
  linear(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), N, false);
  mark("qkv split + rope");
  qkv_split_bf16(cx, q.as<bf16>(), k.as<bf16>(), v.as<bf16>(), qkv.as<bf16>(), N, qd, kvd);
  const float* cos = m.rope_cos_for(T);  // rows = positions 0..T-1, this forward's factors
  const float* sin = m.rope_sin_for(T);
  for (int64_t b = 0; b < B; ++b) {  // the tables are per position, so one call per sequence
    bf16* qb = q.as<bf16>() + b * T * qd;
    bf16* kb = k.as<bf16>() + b * T * kvd;
    rope_forward_cuda(cx, qb, qb, cos, sin, T, s.NH, s.HS, s.rotary_dim());
    rope_forward_cuda(cx, kb, kb, cos, sin, T, s.NKV, s.HS, s.rotary_dim());
  }
  // tensor cores for the head sizes the mma kernel takes (as the trainer does)
  mark("attention prefill");
  (opt.attention_mma && attention_mma_head_size(s.HS)
       ? attention_forward_mma_cuda
       : attention_forward_cuda)(cx, att.as<bf16>(), lse.as<float>(), q.as<bf16>(), k.as<bf16>(),
                                 v.as<bf16>(), B, T, s.NH, s.NKV, s.HS, scale(), s.window);
  // cache rows [0, T) of each sequence
  mark("kv cache write");
  const size_t cache_pitch = size_t(opt.max_seq * kvd) * b2;
  copy2d(kc[size_t(l)].get(), cache_pitch, k.get(), size_t(T * kvd) * b2, size_t(T * kvd) * b2, B);
  copy2d(vc[size_t(l)].get(), cache_pitch, v.get(), size_t(T * kvd) * b2, size_t(T * kvd) * b2, B);
  layer_tail(ly, N, false);
}

void gpu_generator::impl::layer_prefill_slot(int64_t l, int64_t slot, int64_t start, int64_t n,
                                             const float* cos, const float* sin) {
  const gpu_model_shape& s = m.shape;
  const gpu_layer& ly = m.layers[size_t(l)];
  const int64_t qd = s.q_dim(), kvd = s.kv_dim();
  layer_input_norm(l, ly.input_norm.as<bf16>(), n);
  linear(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), n, false);
  mark("qkv split + rope");
  qkv_split_bf16(cx, q.as<bf16>(), k.as<bf16>(), v.as<bf16>(), qkv.as<bf16>(), n, qd, kvd);
  const int64_t RD = s.rotary_dim();  // table rows start.. are positions start..
  rope_forward_cuda(cx, q.as<bf16>(), q.as<bf16>(), cos + start * RD, sin + start * RD, n, s.NH,
                    s.HS, RD);
  rope_forward_cuda(cx, k.as<bf16>(), k.as<bf16>(), cos + start * RD, sin + start * RD, n, s.NKV,
                    s.HS, RD);
  // cache rows [start, start + n) of the slot
  mark("kv cache write");
  bf16* kcache = kc[size_t(l)].as<bf16>();
  bf16* vcache = vc[size_t(l)].as<bf16>();
  const kv_pages& pages = dec_rows.pages;  // the slot's blocks (gpu_batch_decoder drew them)
  kv_cache_write_cuda(cx, kcache, vcache, k.as<bf16>(), v.as<bf16>(), pages, slot, start, n, kvd);
  mark("attention prefill");
  const bool mma = opt.attention_mma && attention_mma_head_size(s.HS);
  if (start == 0) {  // the prompt's own keys: as layer_prefill
    (mma ? attention_forward_mma_cuda : attention_forward_cuda)(
        cx, att.as<bf16>(), lse.as<float>(), q.as<bf16>(), k.as<bf16>(), v.as<bf16>(), 1, n, s.NH,
        s.NKV, s.HS, scale(), s.window);
  } else {  // a later chunk (or the rest after a cached prefix): over the slot's cached keys
    (mma && n >= kPagedMmaMinRows ? attention_forward_paged_mma_cuda
                                  : attention_forward_paged_cuda)(
        cx, att.as<bf16>(), lse.as<float>(), q.as<bf16>(), kcache, vcache, pages, slot,
        dec_rows.slots, n, start + n, s.NH, s.NKV, s.HS, scale(), s.window);
  }
  layer_tail(ly, n, false);
}

void gpu_generator::impl::layer_decode(int64_t l, int64_t B) {
  const gpu_model_shape& s = m.shape;
  const gpu_layer& ly = m.layers[size_t(l)];
  bf16* kcache = kc[size_t(l)].as<bf16>();
  bf16* vcache = vc[size_t(l)].as<bf16>();
  layer_input_norm(l, ly.input_norm.as<bf16>(), B);
  const gpu_lora_linear& lqkv = ly.lora(lora_qkv);
  if (fuse_lora(lqkv, B, true)) {
    // qkv's LoRA term in the split + rope kernel (bit for bit lora_decode, then the two below)
    base(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), B, true);
    mark("lora + qkv split + rope + cache append");
    decode_qkv_lora_cuda(cx, q.as<bf16>(), kcache, vcache, qkv.as<bf16>(), m.rope_cos.as<float>(),
                         m.rope_sin.as<float>(), dec_rows, B, s.NH, s.NKV, s.HS, s.rotary_dim(),
                         tcap(), h.as<bf16>(), lqkv.A.as<bf16>(), lqkv.B.as<bf16>(), lqkv.in,
                         lqkv.r, s.lora_scale());
  } else {
    linear(ly, lora_qkv, qkv.as<bf16>(), h.as<bf16>(), B, true);
    mark("qkv split + rope + cache append");
    decode_qkv_cuda(cx, q.as<bf16>(), kcache, vcache, qkv.as<bf16>(), m.rope_cos.as<float>(),
                    m.rope_sin.as<float>(), dec_rows, B, s.NH, s.NKV, s.HS, s.rotary_dim(), tcap());
  }
  mark("attention decode");
  uint32_t* counters = opt.fused_decode ? merge_counters.as<uint32_t>() : nullptr;
  if (dec_rows.slot == nullptr) {
    attention_decode_cuda(cx, att.as<bf16>(), q.as<bf16>(), kcache, vcache, dec_tk, B, opt.max_seq,
                          opt.max_seq, s.NH, s.NKV, s.HS, scale(), s.window, counters);
  } else {
    attention_decode_rows_cuda(cx, att.as<bf16>(), q.as<bf16>(), kcache, vcache, dec_tk,
                               dec_rows.slot, B, dec_rows.slots,
                               dec_tk_max > 0 ? dec_tk_max : opt.max_seq, tcap(), s.NH, s.NKV, s.HS,
                               scale(), s.window, counters, dec_rows.pages);
  }
  layer_tail(ly, B, true);
}

void gpu_generator::impl::head(const bf16* rows_in, int64_t B) {
  const gpu_model_shape& s = m.shape;
  mark("final norm + lm_head + argmax");
  rmsnorm_forward_cuda(cx, h.as<bf16>(), nullptr, rows_in, m.final_norm.as<bf16>(), B, s.C,
                       s.rms_eps);
  head_logits(B);
}

void gpu_generator::impl::head_rows(const bf16* rows_in, int64_t B) {
  const gpu_model_shape& s = m.shape;
  mark("final norm + lm_head (prompt rows)");
  rmsnorm_forward_cuda(cx, h.as<bf16>(), nullptr, rows_in, m.final_norm.as<bf16>(), B, s.C,
                       s.rms_eps);
  gemm_forward_cuda(cx, logits.as<bf16>(), h.as<bf16>(), m.lm_head.as<bf16>(), nullptr, B, s.C,
                    s.V);
}

void gpu_generator::impl::head_logits(int64_t B) {
  const gpu_model_shape& s = m.shape;
  mark("lm_head + argmax");
  gemm_forward_cuda(cx, logits.as<bf16>(), h.as<bf16>(), m.lm_head.as<bf16>(), nullptr, B, s.C,
                    s.V);
  argmax_rows_cuda(cx, ids.as<int32_t>(), gen.as<int32_t>(), gen_ld(), state.as<int32_t>(),
                   logits.as<bf16>(), B, s.V);
}

void gpu_generator::impl::copy2d(void* dst, size_t dpitch, const void* src, size_t spitch,
                                 size_t width, int64_t height) {
  CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, size_t(height),
                               cudaMemcpyDeviceToDevice, cx.stream()));
}

}  // namespace kaito::gpu
