// Forward pass of the decoder-only transformer (see transformer.h for the math and shapes).
//
// defines: model_forward, and the RoPE table set-up shared with backward.
//   kernels used: embedding, rmsnorm, gemm, rope, attention, swiglu, cross_entropy, lora (via
//   transformer_lora.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/transformer.h"
#include "engine/work_buffers.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/parallel_for.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::engine {

namespace {

using fvec = std::vector<float>;

status check_batch(const model_config& c, const batch& b, std::vector<int32_t>* pos) {
  const int64_t N = b.B * b.T;
  if (b.B <= 0 || b.T <= 0) return invalid_argument("batch must have B, T > 0", "batch");
  if (static_cast<int64_t>(b.ids.size()) != N)
    return invalid_argument("ids must hold B*T tokens", "batch.ids");
  if (!b.labels.empty() && static_cast<int64_t>(b.labels.size()) != N)
    return invalid_argument("labels must hold B*T entries", "batch.labels");
  for (int64_t i = 0; i < N; ++i) {
    if (b.ids[i] < 0 || b.ids[i] >= c.vocab_size)
      return invalid_argument("token id out of range", "batch.ids[" + std::to_string(i) + "]");
    if (!b.labels.empty() && b.labels[i] != -100 &&
        (b.labels[i] < 0 || b.labels[i] >= c.vocab_size))
      return invalid_argument("label out of range", "batch.labels[" + std::to_string(i) + "]");
  }
  if (b.pos.empty()) {
    pos->resize(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) (*pos)[i] = static_cast<int32_t>(i % b.T);
  } else {
    if (static_cast<int64_t>(b.pos.size()) != N)
      return invalid_argument("pos must hold B*T entries", "batch.pos");
    *pos = b.pos;
  }
  for (int64_t i = 0; i < N; ++i)
    if ((*pos)[i] < 0 || (*pos)[i] >= c.max_position_embeddings)
      return invalid_argument("position out of range", "batch.pos[" + std::to_string(i) + "]");
  return {};
}

// Splits qkv (N, QKV) into contiguous q (N, NH*HS), k and v (N, NKV*HS).
void split_qkv(const float* qkv, int64_t N, int64_t qd, int64_t kvd, float* q, float* k, float* v) {
  const int64_t ld = qd + 2 * kvd;
  parallel_for(N, parallel_grain(ld), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      std::memcpy(q + n * qd, qkv + n * ld, static_cast<size_t>(qd) * sizeof(float));
      std::memcpy(k + n * kvd, qkv + n * ld + qd, static_cast<size_t>(kvd) * sizeof(float));
      std::memcpy(v + n * kvd, qkv + n * ld + qd + kvd, static_cast<size_t>(kvd) * sizeof(float));
    }
  });
}

}  // namespace

kaito::rope_params rope_params_of(const model_config& c) {
  const rope_config& r = c.rope;
  kaito::rope_params rp;
  rp.theta = r.theta;
  rp.head_dim = r.rotary_dim;  // partial rotary: the frequencies of the rotated dims only
  rp.max_position_embeddings = c.max_position_embeddings;
  rp.original_max_position_embeddings = r.original_max_position_embeddings;
  switch (r.kind) {
    case rope_type::standard:
    case rope_type::linear:
      rp.kind = kaito::rope_kind::default_rope;
      break;
    case rope_type::longrope:
      rp.kind = kaito::rope_kind::longrope;
      rp.short_factor = r.short_factor;
      rp.long_factor = r.long_factor;
      rp.attention_factor = r.attention_factor;
      break;
    case rope_type::llama3:
      rp.kind = kaito::rope_kind::llama3;
      rp.factor = r.factor;
      rp.low_freq_factor = r.low_freq_factor;
      rp.high_freq_factor = r.high_freq_factor;
      break;
  }
  return rp;
}

// cos/sin tables (HF *RotaryEmbedding with rope_init_fn; see transformer.h).
status rope_tables(const model_config& c, const std::vector<int32_t>& pos, int64_t seq_len,
                   std::vector<float>* cos, std::vector<float>* sin) {
  const rope_config& r = c.rope;
  const kaito::rope_params rp = rope_params_of(c);
  std::vector<float> inv = rope_inv_freq(rp, seq_len);
  // Linear scaling (_compute_linear_scaling_rope_parameters): inv_freq / factor.
  if (r.kind == rope_type::linear)
    for (float& f : inv) f = static_cast<float>(f / r.factor);
  const int64_t N = static_cast<int64_t>(pos.size());
  cos->assign(static_cast<size_t>(N * r.rotary_dim), 0.0f);
  sin->assign(static_cast<size_t>(N * r.rotary_dim), 0.0f);
  rope_cos_sin_cpu(cos->data(), sin->data(), pos.data(), inv.data(),
                   static_cast<float>(rope_attention_factor(rp)), N, r.rotary_dim);
  return {};
}

status model_forward(const model& m, const lora_adapter* lora, const batch& b,
                     const forward_options& opt, forward_state* st) {
  const model_config& c = m.config;
  const model_weights& w = m.weights;
  std::vector<int32_t> pos;
  KAITO_TRY(check_batch(c, b, &pos));
  const int64_t B = b.B, T = b.T, N = B * T, C = c.hidden_size, I = c.intermediate_size;
  const int64_t NH = c.num_heads, NKV = c.num_kv_heads, HS = c.head_dim, V = c.vocab_size;
  const int64_t RD = c.rope.rotary_dim;
  const int64_t qd = NH * HS, kvd = NKV * HS, QKV = qd + 2 * kvd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float eps = static_cast<float>(c.rms_norm_eps);

  st->B = B;
  st->T = T;
  KAITO_TRY(rope_tables(c, pos, *std::max_element(pos.begin(), pos.end()) + 1, &st->cos, &st->sin));
  st->layers.resize(static_cast<size_t>(c.num_layers));
  st->lora.resize(lora ? lora->modules.size() : 0);
  // Layer l's input x lives in st->layers[l].x; the last layer writes st->x_final.
  float* x = c.num_layers > 0 ? ensure(st->layers[0].x, N * C) : ensure(st->x_final, N * C);
  embedding_forward_cpu(x, b.ids.data(), w.embed.data(), N, V, C);
  fvec scratch, qkv, o;  // per-forward scratch: the base projections before they are split/added
  ensure(qkv, N * QKV);
  ensure(o, N * C);

  for (int64_t l = 0; l < c.num_layers; ++l) {
    const layer_weights& lw = w.layers[static_cast<size_t>(l)];
    layer_acts& a = st->layers[static_cast<size_t>(l)];
    // attention block
    rmsnorm_forward_cpu(ensure(a.xn1, N * C), ensure(a.rstd1, N), a.x.data(), lw.input_norm.data(),
                        N, C, eps);
    gemm_forward_cpu(qkv.data(), a.xn1.data(), lw.qkv.materialize(scratch), lw.qkv.bias_or_null(),
                     N, C, QKV);
    if (lora)
      lora_site_forward(*lora, l, lora_site::qkv, a.xn1.data(), N, qkv.data(), QKV, opt, st->lora);
    split_qkv(qkv.data(), N, qd, kvd, ensure(a.q, N * qd), ensure(a.k, N * kvd),
              ensure(a.v, N * kvd));
    rope_forward_cpu(a.q.data(), a.q.data(), st->cos.data(), st->sin.data(), N, NH, HS, RD);
    rope_forward_cpu(a.k.data(), a.k.data(), st->cos.data(), st->sin.data(), N, NKV, HS, RD);
    attention_forward_cpu(ensure(a.att, N * qd), ensure(a.lse, B * NH * T), a.q.data(), a.k.data(),
                          a.v.data(), B, T, NH, NKV, HS, scale,
                          c.layer_window[static_cast<size_t>(l)]);
    gemm_forward_cpu(o.data(), a.att.data(), lw.o.materialize(scratch), lw.o.bias_or_null(), N, qd,
                     C);
    if (lora)
      lora_site_forward(*lora, l, lora_site::o, a.att.data(), N, o.data(), C, opt, st->lora);
    add(ensure(a.h, N * C), a.x.data(), o.data(), N * C);
    // MLP block
    rmsnorm_forward_cpu(ensure(a.xn2, N * C), ensure(a.rstd2, N), a.h.data(), lw.post_norm.data(),
                        N, C, eps);
    gemm_forward_cpu(ensure(a.gu, N * 2 * I), a.xn2.data(), lw.gate_up.materialize(scratch),
                     nullptr, N, C, 2 * I);
    if (lora)
      lora_site_forward(*lora, l, lora_site::gate_up, a.xn2.data(), N, a.gu.data(), 2 * I, opt,
                        st->lora);
    swiglu_forward_cpu(ensure(a.act, N * I), a.gu.data(), a.gu.data() + I, N, I, 2 * I);
    gemm_forward_cpu(o.data(), a.act.data(), lw.down.materialize(scratch), nullptr, N, I, C);
    if (lora)
      lora_site_forward(*lora, l, lora_site::down, a.act.data(), N, o.data(), C, opt, st->lora);
    float* next = l + 1 < c.num_layers ? ensure(st->layers[static_cast<size_t>(l + 1)].x, N * C)
                                       : ensure(st->x_final, N * C);
    add(next, a.h.data(), o.data(), N * C);
  }

  rmsnorm_forward_cpu(ensure(st->xn_f, N * C), ensure(st->rstd_f, N), st->x_final.data(),
                      w.final_norm.data(), N, C, eps);
  gemm_forward_cpu(ensure(st->logits, N * V), st->xn_f.data(), w.lm_head(), nullptr, N, C, V);

  st->targets.clear();
  st->count = 0;
  st->loss = 0.0;
  if (!b.labels.empty()) {
    // HF ForCausalLMLoss: targets[b, t] = labels[b, t+1], the last position ignored.
    st->targets.assign(static_cast<size_t>(N), cross_entropy_ignore_index);
    for (int64_t bi = 0; bi < B; ++bi)
      for (int64_t t = 0; t + 1 < T; ++t) st->targets[bi * T + t] = b.labels[bi * T + t + 1];
    cross_entropy_forward_cpu(ensure(st->losses, N), ensure(st->lse_ce, N), st->logits.data(),
                              st->targets.data(), N, V);
    st->count = cross_entropy_count(st->targets.data(), N);
    st->loss = cross_entropy_mean(st->losses.data(), st->targets.data(), N);
  }
  return {};
}

}  // namespace kaito::engine
