// Backward pass to LoRA gradients (see transformer.h). The frozen base contributes dX only
// (gemm_backward_inp, bitsandbytes MatMul4Bit.backward); frozen norms get no weight gradient.
#include <cmath>
#include <cstring>

#include "engine/transformer.h"
#include "engine/work_buffers.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/gemm.h"
#include "kernels/parallel_for.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::engine {

namespace {

using fvec = std::vector<float>;

// Joins dq (N, qd), dk and dv (N, kvd) into the fused (N, QKV) layout.
void join_qkv(const float* q, const float* k, const float* v, int64_t N, int64_t qd, int64_t kvd,
              float* qkv) {
  const int64_t ld = qd + 2 * kvd;
  parallel_for(N, parallel_grain(ld), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      std::memcpy(qkv + n * ld, q + n * qd, static_cast<size_t>(qd) * sizeof(float));
      std::memcpy(qkv + n * ld + qd, k + n * kvd, static_cast<size_t>(kvd) * sizeof(float));
      std::memcpy(qkv + n * ld + qd + kvd, v + n * kvd, static_cast<size_t>(kvd) * sizeof(float));
    }
  });
}

}  // namespace

status model_backward(const model& m, lora_adapter* lora, const batch& b, const forward_state& st,
                      double loss_scale) {
  const model_config& c = m.config;
  const model_weights& w = m.weights;
  if (b.labels.empty() || st.targets.empty())
    return status(status_code::failed_precondition, "backward needs a forward with labels");
  if (st.B != b.B || st.T != b.T || st.layers.size() != static_cast<size_t>(c.num_layers) ||
      st.lora.size() != (lora ? lora->modules.size() : 0))
    return status(status_code::failed_precondition,
                  "forward state does not match this model, adapter and batch");
  const int64_t B = b.B, T = b.T, N = B * T, C = c.hidden_size, I = c.intermediate_size;
  const int64_t NH = c.num_heads, NKV = c.num_kv_heads, HS = c.head_dim, V = c.vocab_size;
  const int64_t qd = NH * HS, kvd = NKV * HS, QKV = qd + 2 * kvd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  if (st.count == 0) return {};  // nothing to learn from: every gradient term is zero

  // Norm weights are frozen: rmsnorm_backward gets no dweight. Work buffers: st.work.
  backward_buffers& wk = st.work;
  // head: dlogits -> dxn_f -> dx
  float* dlogits = ensure(wk.dlogits, N * V);
  cross_entropy_backward_cpu(dlogits, st.logits.data(), st.lse_ce.data(), st.targets.data(),
                             static_cast<float>(loss_scale / static_cast<double>(st.count)), N, V);
  float* dxn = ensure(wk.dxn, N * C);
  float* dx = ensure(wk.dx, N * C);
  float* dh = ensure(wk.dh, N * C);
  float* dpart = ensure(wk.dpart, N * C);
  fvec scratch;
  gemm_backward_inp_cpu(dxn, dlogits, w.lm_head(), N, C, V);
  rmsnorm_backward_cpu(dx, nullptr, dxn, st.x_final.data(), w.final_norm.data(), st.rstd_f.data(),
                       N, C);

  float* dact = ensure(wk.dact, N * I);
  float* dgu = ensure(wk.dgu, N * 2 * I);
  float* datt = ensure(wk.datt, N * qd);
  float* dq = ensure(wk.dq, N * qd);
  float* dk = ensure(wk.dk, N * kvd);
  float* dv = ensure(wk.dv, N * kvd);
  float* dqkv = ensure(wk.dqkv, N * QKV);
  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    const layer_weights& lw = w.layers[static_cast<size_t>(l)];
    const layer_acts& a = st.layers[static_cast<size_t>(l)];
    // MLP block: out = h + down(act), act = swiglu(gu), gu = gate_up(xn2), xn2 = norm(h)
    gemm_backward_inp_cpu(dact, dx, lw.down.materialize(scratch), N, I, C);
    if (lora) lora_site_backward(*lora, l, lora_site::down, a.act.data(), dx, N, C, dact, st.lora);
    swiglu_backward_cpu(dgu, dgu + I, dact, a.gu.data(), a.gu.data() + I, N, I, 2 * I);
    gemm_backward_inp_cpu(dxn, dgu, lw.gate_up.materialize(scratch), N, C, 2 * I);
    if (lora)
      lora_site_backward(*lora, l, lora_site::gate_up, a.xn2.data(), dgu, N, 2 * I, dxn, st.lora);
    rmsnorm_backward_cpu(dpart, nullptr, dxn, a.h.data(), lw.post_norm.data(), a.rstd2.data(), N,
                         C);
    add(dh, dx, dpart, N * C);
    // attention block: h = x + o(att), att = attention(rope(q), rope(k), v), qkv = proj(xn1)
    gemm_backward_inp_cpu(datt, dh, lw.o.materialize(scratch), N, qd, C);
    if (lora) lora_site_backward(*lora, l, lora_site::o, a.att.data(), dh, N, C, datt, st.lora);
    attention_backward_cpu(dq, dk, dv, datt, a.att.data(), a.lse.data(), a.q.data(), a.k.data(),
                           a.v.data(), B, T, NH, NKV, HS, scale,
                           c.layer_window[static_cast<size_t>(l)]);
    rope_backward_cpu(dq, dq, st.cos.data(), st.sin.data(), N, NH, HS, c.rope.rotary_dim);
    rope_backward_cpu(dk, dk, st.cos.data(), st.sin.data(), N, NKV, HS, c.rope.rotary_dim);
    join_qkv(dq, dk, dv, N, qd, kvd, dqkv);
    if (l == 0) {
      // The embeddings are frozen: below the first qkv projection only its LoRA weights learn.
      if (lora)
        lora_site_backward(*lora, l, lora_site::qkv, a.xn1.data(), dqkv, N, QKV, nullptr, st.lora);
      break;
    }
    gemm_backward_inp_cpu(dxn, dqkv, lw.qkv.materialize(scratch), N, C, QKV);
    if (lora)
      lora_site_backward(*lora, l, lora_site::qkv, a.xn1.data(), dqkv, N, QKV, dxn, st.lora);
    rmsnorm_backward_cpu(dpart, nullptr, dxn, a.x.data(), lw.input_norm.data(), a.rstd1.data(), N,
                         C);
    add(dx, dh, dpart, N * C);
  }
  return {};
}

}  // namespace kaito::engine
