// gpu_trainer's per-layer work (contract: engine/cuda/train_step.h; buffers: train_plan.h): one
// decoder layer's forward, which a checkpointed backward also runs to refill its activation set,
// and its backward down to the LoRA grads (the rest of the step: train_step.cu).
#include <cmath>
#include <utility>

#include "engine/cuda/train_ops.h"
#include "engine/cuda/train_step.h"
#include "kernels/attention.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"
#include "kernels/lora.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::gpu {

namespace {

// Whether the step runs the tensor-core attention (train_options::attention_mma).
bool mma_attention(const train_options& o, const gpu_model_shape& s) {
  return o.attention_mma && attention_mma_head_size(s.HS);
}

// The pointers of one layer's activation set.
struct layer_ptrs {
  bf16 *q, *k, *v, *att, *xmid, *gu, *z[kLoraTargets], *xd[kLoraTargets];
  float *rstd1, *rstd2, *lse;
};

layer_ptrs ptrs_of(char* base, const layer_slots& s) {
  layer_ptrs p{};
  auto b = [&](size_t off) { return reinterpret_cast<bf16*>(base + off); };
  auto f = [&](size_t off) { return reinterpret_cast<float*>(base + off); };
  p.q = b(s.q);
  p.k = b(s.k);
  p.v = b(s.v);
  p.att = b(s.att);
  p.xmid = b(s.xmid);
  p.gu = b(s.gu);
  for (int t = 0; t < kLoraTargets; ++t) {
    p.z[t] = b(s.z[t]);
    p.xd[t] = b(s.xd[t]);
  }
  p.rstd1 = f(s.rstd1);
  p.rstd2 = f(s.rstd2);
  p.lse = f(s.lse);
  return p;
}

float attn_scale(int64_t HS) {
  return float(1.0 / std::sqrt(double(HS)));
}

}  // namespace

void gpu_trainer::layer_forward(int64_t l, bool recompute) {
  const gpu_model_shape& s = m_.shape;
  const int64_t N = plan_.N, C = s.C, Q = s.q_dim(), KV = s.kv_dim(), I = s.I;
  const gpu_layer& ly = m_.layers[size_t(l)];
  const layer_ptrs a = ptrs_of(set_base(l), plan_.slot);
  bf16* x = at<bf16>(plan_.xin + size_t(l) * plan_.xin_stride);
  bf16* proj = at<bf16>(plan_.qkv);  // qkv output, then the o and down outputs
  bf16* hn = at<bf16>(plan_.hn);     // h1, then h2 (not saved: train_plan.h)
  bf16* act = at<bf16>(plan_.act);
  const float sc = s.lora_scale(), p = eval_ ? 0.0f : o_.lora_dropout;
  // Without dropout the saved LoRA input is the module input itself: no xd.
  auto xd = [&](int t) { return plan_.dropout && !eval_ ? a.xd[t] : nullptr; };
  auto lora = [&](int t, bf16* y, const bf16* in) {
    const gpu_lora_linear& w = ly.lora(t);
    lora_forward_cuda(cx_, y, xd(t), a.z[t], in, w.A.as<bf16>(), w.B.as<bf16>(), N, w.in, w.r,
                      w.out, sc, p, dropout_seed(l, t));
  };
  const float* cos = at<float>(plan_.cos);
  const float* sin = at<float>(plan_.sin);
  // A checkpoint recompute is charged to one segment; the first forward op by op.
  auto mark = [&](const char* name) {
    if (!recompute) profile_mark(prof_, name);
  };
  if (recompute) profile_mark(prof_, "ckpt recompute");

  mark("rmsnorm + residual");
  rmsnorm_forward_cuda(cx_, hn, a.rstd1, x, ly.input_norm.as<bf16>(), N, C, s.rms_eps);
  mark("base linear fwd");
  base_linear_forward(cx_, m_, ly.qkv, proj, hn, N);
  mark("lora fwd");
  lora(lora_qkv, proj, hn);
  mark("qkv split + rope");
  qkv_split_bf16(cx_, a.q, a.k, a.v, proj, N, Q, KV);
  rope_forward_cuda(cx_, a.q, a.q, cos, sin, N, s.NH, s.HS, s.rotary_dim());
  rope_forward_cuda(cx_, a.k, a.k, cos, sin, N, s.NKV, s.HS, s.rotary_dim());
  // tensor cores for the head sizes attention_forward_mma_cuda takes (plan buffers: 256-aligned)
  mark("attention fwd");
  (mma_attention(o_, s) ? attention_forward_mma_cuda : attention_forward_cuda)(
      cx_, a.att, a.lse, a.q, a.k, a.v, plan_.B, plan_.T, s.NH, s.NKV, s.HS, attn_scale(s.HS),
      s.window);
  mark("base linear fwd");
  base_linear_forward(cx_, m_, ly.o, proj, a.att, N);
  mark("lora fwd");
  lora(lora_o, proj, a.att);
  mark("rmsnorm + residual");
  add_rmsnorm_forward_cuda(cx_, a.xmid, hn, a.rstd2, x, proj, ly.post_norm.as<bf16>(), N, C,
                           s.rms_eps);
  mark("base linear fwd");
  base_linear_forward(cx_, m_, ly.gate_up, a.gu, hn, N);
  mark("lora fwd");
  lora(lora_gate_up, a.gu, hn);
  mark("swiglu");
  swiglu_forward_cuda(cx_, act, a.gu, a.gu + I, N, I, 2 * I);
  // A recompute needs only the down LoRA's z (and xd): its y (proj) is scratch nobody reads.
  mark("base linear fwd");
  if (!recompute) base_linear_forward(cx_, m_, ly.down, proj, act, N);
  mark("lora fwd");
  lora(lora_down, proj, act);
  mark("rmsnorm + residual");
  if (!recompute)
    add_bf16(cx_, at<bf16>(plan_.xin + size_t(l + 1) * plan_.xin_stride), a.xmid, proj, N * C);
}

void gpu_trainer::layer_backward(int64_t l) {
  // Checkpointing: refill the single set with layer l's activations. The last layer's are still
  // there from the forward (the head does not touch the set), so it is not recomputed.
  if (plan_.checkpoint && l != m_.shape.L - 1) layer_forward(l, true);
  const gpu_model_shape& s = m_.shape;
  const int64_t N = plan_.N, C = s.C, Q = s.q_dim(), KV = s.kv_dim(), I = s.I;
  const gpu_layer& ly = m_.layers[size_t(l)];
  const layer_ptrs a = ptrs_of(set_base(l), plan_.slot);
  bf16* x = at<bf16>(plan_.xin + size_t(l) * plan_.xin_stride);
  bf16* dres = at<bf16>(plan_.dres);  // d(layer output) on entry, d(layer input) on exit
  bf16* dtmp = at<bf16>(plan_.dtmp);
  bf16* dh = at<bf16>(plan_.dh);
  bf16* dgu = at<bf16>(plan_.dgu);
  bf16* dact = at<bf16>(plan_.dact);
  bf16* datt = at<bf16>(plan_.datt);
  bf16* dq = at<bf16>(plan_.dq);
  bf16* dk = at<bf16>(plan_.dk);
  bf16* dv = at<bf16>(plan_.dv);
  bf16* dqkv = at<bf16>(plan_.dqkv);
  bf16* dz = at<bf16>(plan_.dz);
  bf16* hn = at<bf16>(plan_.hn);
  bf16* act = at<bf16>(plan_.act);
  const float sc = s.lora_scale(), p = o_.lora_dropout;
  // The LoRA inputs without dropout: h1, h2 and act are not saved (train_plan.h); `refill` puts
  // the one the next LoRA backward reads back into hn / act from the set, as the forward made it
  // (the same kernel on the same input, or for h2 the norm add_rmsnorm applied to the sum it
  // stored: the same bits). With dropout the LoRA reads its own saved xd instead.
  const bf16* inputs[kLoraTargets] = {hn, a.att, hn, act};
  auto refill = [&](int t) {
    if (plan_.dropout) return;
    profile_mark(prof_, "recompute norm / swiglu");
    if (t == lora_down) swiglu_forward_cuda(cx_, act, a.gu, a.gu + I, N, I, 2 * I);
    if (t == lora_gate_up)
      rmsnorm_forward_cuda(cx_, hn, nullptr, a.xmid, ly.post_norm.as<bf16>(), N, C, s.rms_eps);
    if (t == lora_qkv)
      rmsnorm_forward_cuda(cx_, hn, nullptr, x, ly.input_norm.as<bf16>(), N, C, s.rms_eps);
  };
  // dx += LoRA's share; dA, dB += (the base's dinp already overwrote dx).
  auto lora = [&](int t, bf16* dx, const bf16* dy) {
    const gpu_lora_linear& w = ly.lora(t);
    lora_backward_cuda(cx_, dx, w.dA.as<float>(), w.dB.as<float>(), dz, dy,
                       plan_.dropout ? a.xd[t] : inputs[t], a.z[t], w.A.as<bf16>(), w.B.as<bf16>(),
                       N, w.in, w.r, w.out, sc, p, dropout_seed(l, t));
    // split_lora: dB = dtᵀ · z filled the off-block entries too; they must stay zero
    lora_block_mask_cuda(cx_, w.dB.as<float>(), w.out, w.r, w.blocks);
    if (reducer_ && reduce_pass_) {  // this module's dA, dB are complete: reduce them
      const size_t i = size_t(l * kLoraTargets + t) * 2;
      for (size_t k : {i + 1, i}) {
        status st = reducer_->ready(reducer_index_[k]);
        if (!st.ok()) cx_.record_error(std::move(st));
      }
    }
  };
  const float* cos = at<float>(plan_.cos);
  const float* sin = at<float>(plan_.sin);

  auto mark = [&](const char* name) { profile_mark(prof_, name); };
  // MLP: x_out = xmid + down(swiglu(gate_up(norm2(xmid))))
  mark("base linear bwd (dX)");
  base_linear_backward_inp(cx_, m_, ly.down, dact, dres, N);
  refill(lora_down);
  mark("lora bwd");
  lora(lora_down, dact, dres);
  mark("swiglu bwd");
  swiglu_backward_cuda(cx_, dgu, dgu + I, dact, a.gu, a.gu + I, N, I, 2 * I);
  mark("base linear bwd (dX)");
  base_linear_backward_inp(cx_, m_, ly.gate_up, dh, dgu, N);
  refill(lora_gate_up);
  mark("lora bwd");
  lora(lora_gate_up, dh, dgu);
  mark("rmsnorm bwd + residual");
  rmsnorm_backward_cuda(cx_, dtmp, nullptr, dh, a.xmid, ly.post_norm.as<bf16>(), a.rstd2, N, C);
  add_bf16(cx_, dres, dres, dtmp, N * C);
  // attention: xmid = x + o(attn(rope(q), rope(k), v)), qkv = qkv_proj(norm1(x))
  mark("base linear bwd (dX)");
  base_linear_backward_inp(cx_, m_, ly.o, datt, dres, N);
  mark("lora bwd");
  lora(lora_o, datt, dres);
  mark("attention bwd");
  (mma_attention(o_, s) ? attention_backward_mma_cuda : attention_backward_cuda)(
      cx_, dq, dk, dv, datt, a.att, a.lse, a.q, a.k, a.v, plan_.B, plan_.T, s.NH, s.NKV, s.HS,
      attn_scale(s.HS), s.window);
  mark("rope bwd + qkv merge");
  rope_backward_cuda(cx_, dq, dq, cos, sin, N, s.NH, s.HS, s.rotary_dim());
  rope_backward_cuda(cx_, dk, dk, cos, sin, N, s.NKV, s.HS, s.rotary_dim());
  qkv_merge_bf16(cx_, dqkv, dq, dk, dv, N, Q, KV);
  mark("base linear bwd (dX)");
  base_linear_backward_inp(cx_, m_, ly.qkv, dh, dqkv, N);
  refill(lora_qkv);
  mark("lora bwd");
  lora(lora_qkv, dh, dqkv);
  mark("rmsnorm bwd + residual");
  rmsnorm_backward_cuda(cx_, dtmp, nullptr, dh, x, ly.input_norm.as<bf16>(), a.rstd1, N, C);
  add_bf16(cx_, dres, dres, dtmp, N * C);
}

}  // namespace kaito::gpu
