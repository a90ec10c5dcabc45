// CPU composition of one training step (contract: tests/cuda/model_parity_cpu.h).
#include "tests/cuda/model_parity_cpu.h"

#include <cmath>

#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/dtype.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::parity {
namespace {

using vec = std::vector<float>;

vec zeros(int64_t n) {
  return vec(static_cast<size_t>(n), 0.0f);
}

bool g_round = true;  // cpu_train_step's bf16_rounding (the test is single-threaded)

// Round every element to bf16 (the GPU's storage).
vec& rb(vec& v) {
  if (!g_round) return v;
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}
vec rounded(vec v) {
  rb(v);
  return v;
}

// The bf16 weight the GPU multiplies by: NF4 double-quant state, decoded, rounded to bf16.
vec nf4_weight(const vec& w, int64_t OC, int64_t C) {
  const nf4_quant_state qs = nf4_quantize_weight(w.data(), {OC, C}, dtype::bf16, true);
  const std::vector<float> absmax = nf4_effective_absmax(qs);
  vec out(static_cast<size_t>(OC * C));
  nf4_dequantize_cpu(out.data(), qs.packed.data(), absmax.data(), OC * C);
  return rb(out);  // = nf4_dequantize_bf16_cpu when rounding
}

struct layer_w {
  vec n1, n2, W[4], A[4], Bm[4];  // bf16-rounded as the GPU holds them
  vec qkv_bias;                   // (qkv_dim) or empty
};

struct layer_act {
  vec x, h1, rstd1, q, k, v, att, lse, xmid, h2, rstd2, gu, act, z[4];
};

}  // namespace

cpu_step cpu_train_step(const gpu::gpu_model_shape& s, const gpu::host_model_weights& w,
                        const std::vector<int32_t>& ids, const std::vector<int32_t>& targets,
                        int64_t B, int64_t T, bool bf16_rounding) {
  g_round = bf16_rounding;
  const int64_t N = B * T, C = s.C, Q = s.q_dim(), KV = s.kv_dim(), QKV = s.qkv_dim(), I = s.I,
                V = s.V, HS = s.HS;
  const float sc = s.lora_scale(), eps = s.rms_eps;
  const float scale = float(1.0 / std::sqrt(double(HS)));
  std::vector<layer_w> lw(size_t(s.L));
  for (int64_t l = 0; l < s.L; ++l) {
    const gpu::host_layer_weights& h = w.layers[size_t(l)];
    layer_w& o = lw[size_t(l)];
    o.n1 = rounded(h.input_norm);
    o.n2 = rounded(h.post_norm);
    o.qkv_bias = rounded(h.qkv_bias);
    const vec* base[4] = {&h.qkv, &h.o, &h.gate_up, &h.down};
    for (int t = 0; t < 4; ++t) {
      const gpu::linear_dims d = gpu::target_dims(s, t);
      o.W[t] = s.quantized_base ? nf4_weight(*base[t], d.out, d.in) : rounded(*base[t]);
      o.A[t] = rounded(h.lora_A[t]);
      o.Bm[t] = rounded(h.lora_B[t]);
    }
  }
  const vec embed = rounded(w.embed), lm_head = rounded(w.lm_head), nf = rounded(w.final_norm);

  // rope tables per token: positions 0..T-1 in every sequence, with the frequencies HF uses for
  // a forward of T tokens (longrope: long factors when T > original_max)
  const int64_t RD = s.rotary_dim();
  rope_params rp = s.rope;
  rp.head_dim = RD;
  const std::vector<float> inv = rope_inv_freq(rp, T);
  std::vector<int32_t> pos(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) pos[size_t(n)] = int32_t(n % T);
  vec cos = zeros(N * RD), sin = zeros(N * RD);
  rope_cos_sin_cpu(cos.data(), sin.data(), pos.data(), inv.data(), float(rope_attention_factor(rp)),
                   N, RD);

  // a linear with its LoRA branch: y = R(R(x·Wᵀ [+ b]) + s (R(x·Aᵀ))·Bᵀ), z saved rounded (the
  // bias, qkv's with shape.qkv_bias, inside the product's rounding as the bf16 base's epilogue
  // adds it; the NF4 base rounds once more between them)
  auto linear = [&](const layer_w& L, int t, const vec& x, vec& z) {
    const gpu::linear_dims d = gpu::target_dims(s, t);
    const int64_t R = s.lora_rank(t);
    vec y = zeros(N * d.out), xd = zeros(N * d.in);
    z = zeros(N * R);
    const bool bias = t == gpu::lora_qkv && !L.qkv_bias.empty();
    gemm_forward_cpu(y.data(), x.data(), L.W[t].data(), bias ? L.qkv_bias.data() : nullptr, N, d.in,
                     d.out);
    rb(y);
    lora_forward_cpu(y.data(), xd.data(), z.data(), x.data(), L.A[t].data(), L.Bm[t].data(), N,
                     d.in, R, d.out, sc, 0.0f, 0);
    rb(z);
    return rb(y);
  };

  // forward
  std::vector<layer_act> acts(size_t(s.L));
  vec x = zeros(N * C);
  embedding_forward_cpu(x.data(), ids.data(), embed.data(), N, V, C);
  for (int64_t l = 0; l < s.L; ++l) {
    const layer_w& L = lw[size_t(l)];
    layer_act& a = acts[size_t(l)];
    a.x = x;
    a.h1 = zeros(N * C);
    a.rstd1 = zeros(N);
    rmsnorm_forward_cpu(a.h1.data(), a.rstd1.data(), a.x.data(), L.n1.data(), N, C, eps);
    rb(a.h1);
    const vec qkv = linear(L, gpu::lora_qkv, a.h1, a.z[0]);
    a.q = zeros(N * Q);
    a.k = zeros(N * KV);
    a.v = zeros(N * KV);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < QKV; ++c) {
        const float val = qkv[size_t(n * QKV + c)];
        if (c < Q)
          a.q[size_t(n * Q + c)] = val;
        else if (c < Q + KV)
          a.k[size_t(n * KV + c - Q)] = val;
        else
          a.v[size_t(n * KV + c - Q - KV)] = val;
      }
    rope_forward_cpu(a.q.data(), a.q.data(), cos.data(), sin.data(), N, s.NH, HS, RD);
    rope_forward_cpu(a.k.data(), a.k.data(), cos.data(), sin.data(), N, s.NKV, HS, RD);
    rb(a.q);
    rb(a.k);
    a.att = zeros(N * Q);
    a.lse = zeros(B * s.NH * T);
    attention_forward_cpu(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), B, T,
                          s.NH, s.NKV, HS, scale, s.window);
    rb(a.att);
    const vec o = linear(L, gpu::lora_o, a.att, a.z[1]);
    a.xmid = zeros(N * C);
    for (size_t i = 0; i < a.xmid.size(); ++i) a.xmid[i] = a.x[i] + o[i];
    rb(a.xmid);
    a.h2 = zeros(N * C);
    a.rstd2 = zeros(N);
    rmsnorm_forward_cpu(a.h2.data(), a.rstd2.data(), a.xmid.data(), L.n2.data(), N, C, eps);
    rb(a.h2);
    a.gu = linear(L, gpu::lora_gate_up, a.h2, a.z[2]);
    a.act = zeros(N * I);
    swiglu_forward_cpu(a.act.data(), a.gu.data(), a.gu.data() + I, N, I, 2 * I);
    rb(a.act);
    const vec dn = linear(L, gpu::lora_down, a.act, a.z[3]);
    for (size_t i = 0; i < x.size(); ++i) x[i] = a.xmid[i] + dn[i];
    rb(x);
  }
  // head
  cpu_step out;
  vec hf = zeros(N * C), rstdf = zeros(N);
  rmsnorm_forward_cpu(hf.data(), rstdf.data(), x.data(), nf.data(), N, C, eps);
  rb(hf);
  out.logits = zeros(N * V);
  gemm_forward_cpu(out.logits.data(), hf.data(), lm_head.data(), nullptr, N, C, V);
  rb(out.logits);
  vec losses = zeros(N), lse = zeros(N), dlogits = zeros(N * V);
  cross_entropy_forward_cpu(losses.data(), lse.data(), out.logits.data(), targets.data(), N, V);
  out.loss = cross_entropy_mean(losses.data(), targets.data(), N);
  const int64_t count = cross_entropy_count(targets.data(), N);
  const float grad_scale = count > 0 ? float(1.0 / double(count)) : 0.0f;
  cross_entropy_backward_cpu(dlogits.data(), out.logits.data(), lse.data(), targets.data(),
                             grad_scale, N, V);
  rb(dlogits);
  vec dhf = zeros(N * C), dres = zeros(N * C);
  gemm_backward_inp_cpu(dhf.data(), dlogits.data(), lm_head.data(), N, C, V);
  rb(dhf);
  rmsnorm_backward_cpu(dres.data(), nullptr, dhf.data(), x.data(), nf.data(), rstdf.data(), N, C);
  rb(dres);

  // backward
  out.dA.resize(size_t(s.L * 4));
  out.dB.resize(size_t(s.L * 4));
  // dx = R(dy·W + LoRA's dx); dA, dB accumulated from zero
  auto linear_back = [&](const layer_w& L, int64_t l, int t, const vec& dy, const vec& xin,
                         const vec& z) {
    const gpu::linear_dims d = gpu::target_dims(s, t);
    const int64_t R = s.lora_rank(t);
    vec dx = zeros(N * d.in), dz = zeros(N * R);
    vec& dA = out.dA[size_t(l * 4 + t)];
    vec& dB = out.dB[size_t(l * 4 + t)];
    dA = zeros(R * d.in);
    dB = zeros(d.out * R);
    gemm_backward_inp_cpu(dx.data(), dy.data(), L.W[t].data(), N, d.in, d.out);
    rb(dx);
    lora_backward_cpu(dx.data(), dA.data(), dB.data(), dz.data(), dy.data(), xin.data(), z.data(),
                      L.A[t].data(), L.Bm[t].data(), N, d.in, R, d.out, sc, 0.0f, 0);
    lora_block_mask_cpu(dB.data(), d.out, R, gpu::lora_blocks_of(s, t));  // as the trainer
    return rb(dx);
  };
  for (int64_t l = s.L - 1; l >= 0; --l) {
    const layer_w& L = lw[size_t(l)];
    const layer_act& a = acts[size_t(l)];
    const vec dact = linear_back(L, l, gpu::lora_down, dres, a.act, a.z[3]);
    vec dgu = zeros(N * 2 * I);
    swiglu_backward_cpu(dgu.data(), dgu.data() + I, dact.data(), a.gu.data(), a.gu.data() + I, N, I,
                        2 * I);
    rb(dgu);
    vec dh = linear_back(L, l, gpu::lora_gate_up, dgu, a.h2, a.z[2]);
    vec dtmp = zeros(N * C);
    rmsnorm_backward_cpu(dtmp.data(), nullptr, dh.data(), a.xmid.data(), L.n2.data(),
                         a.rstd2.data(), N, C);
    rb(dtmp);
    for (size_t i = 0; i < dres.size(); ++i) dres[i] += dtmp[i];
    rb(dres);
    const vec datt = linear_back(L, l, gpu::lora_o, dres, a.att, a.z[1]);
    vec dq = zeros(N * Q), dk = zeros(N * KV), dv = zeros(N * KV);
    attention_backward_cpu(dq.data(), dk.data(), dv.data(), datt.data(), a.att.data(), a.lse.data(),
                           a.q.data(), a.k.data(), a.v.data(), B, T, s.NH, s.NKV, HS, scale,
                           s.window);
    rb(dq);
    rb(dk);
    rb(dv);
    rope_backward_cpu(dq.data(), dq.data(), cos.data(), sin.data(), N, s.NH, HS, RD);
    rope_backward_cpu(dk.data(), dk.data(), cos.data(), sin.data(), N, s.NKV, HS, RD);
    rb(dq);
    rb(dk);
    vec dqkv = zeros(N * QKV);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < QKV; ++c)
        dqkv[size_t(n * QKV + c)] = c < Q        ? dq[size_t(n * Q + c)]
                                    : c < Q + KV ? dk[size_t(n * KV + c - Q)]
                                                 : dv[size_t(n * KV + c - Q - KV)];
    dh = linear_back(L, l, gpu::lora_qkv, dqkv, a.h1, a.z[0]);
    rmsnorm_backward_cpu(dtmp.data(), nullptr, dh.data(), a.x.data(), L.n1.data(), a.rstd1.data(),
                         N, C);
    rb(dtmp);
    for (size_t i = 0; i < dres.size(); ++i) dres[i] += dtmp[i];
    rb(dres);
  }
  return out;
}

}  // namespace kaito::parity
