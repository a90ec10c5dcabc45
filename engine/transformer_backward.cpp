// Backward pass to LoRA gradients (see transformer.h). The frozen base contributes dX only
// (gemm_backward_inp, bitsandbytes MatMul4Bit.backward); norm weight gradients go to scratch.
#include <cmath>
#include <cstring>

#include "engine/transformer.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::engine {

namespace {

using fvec = std::vector<float>;

fvec zeros(int64_t n) {
  return fvec(static_cast<size_t>(n), 0.0f);
}

// Joins dq (N, qd), dk and dv (N, kvd) into the fused (N, QKV) layout.
void join_qkv(const float* q, const float* k, const float* v, int64_t N, int64_t qd, int64_t kvd,
              float* qkv) {
  const int64_t ld = qd + 2 * kvd;
  for (int64_t n = 0; n < N; ++n) {
    std::memcpy(qkv + n * ld, q + n * qd, static_cast<size_t>(qd) * sizeof(float));
    std::memcpy(qkv + n * ld + qd, k + n * kvd, static_cast<size_t>(kvd) * sizeof(float));
    std::memcpy(qkv + n * ld + qd + kvd, v + n * kvd, static_cast<size_t>(kvd) * sizeof(float));
  }
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

  // head: dlogits -> dxn_f -> dx
  fvec dlogits = zeros(N * V);
  cross_entropy_backward_cpu(dlogits.data(), st.logits.data(), st.lse_ce.data(), st.targets.data(),
                             static_cast<float>(loss_scale / static_cast<double>(st.count)), N, V);
  fvec dxn = zeros(N * C), dx = zeros(N * C), dnorm_w = zeros(C), scratch;
  gemm_backward_inp_cpu(dxn.data(), dlogits.data(), w.lm_head(), N, C, V);
  dlogits = fvec();
  rmsnorm_backward_cpu(dx.data(), dnorm_w.data(), dxn.data(), st.x_final.data(),
                       w.final_norm.data(), st.rstd_f.data(), N, C);

  fvec dact = zeros(N * I), dgu = zeros(N * 2 * I), dh = zeros(N * C), datt = zeros(N * qd);
  fvec dq = zeros(N * qd), dk = zeros(N * kvd), dv = zeros(N * kvd), dqkv = zeros(N * QKV);
  fvec dpart = zeros(N * C);
  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    const layer_weights& lw = w.layers[static_cast<size_t>(l)];
    const layer_acts& a = st.layers[static_cast<size_t>(l)];
    // MLP block: out = h + down(act), act = swiglu(gu), gu = gate_up(xn2), xn2 = norm(h)
    gemm_backward_inp_cpu(dact.data(), dx.data(), lw.down.materialize(scratch), N, I, C);
    if (lora) lora_site_backward(*lora, l, lora_site::down, dx.data(), N, C, dact.data(), st.lora);
    swiglu_backward_cpu(dgu.data(), dgu.data() + I, dact.data(), a.gu.data(), a.gu.data() + I, N, I,
                        2 * I);
    gemm_backward_inp_cpu(dxn.data(), dgu.data(), lw.gate_up.materialize(scratch), N, C, 2 * I);
    if (lora)
      lora_site_backward(*lora, l, lora_site::gate_up, dgu.data(), N, 2 * I, dxn.data(), st.lora);
    rmsnorm_backward_cpu(dpart.data(), dnorm_w.data(), dxn.data(), a.h.data(), lw.post_norm.data(),
                         a.rstd2.data(), N, C);
    for (int64_t i = 0; i < N * C; ++i) dh[i] = dx[i] + dpart[i];
    // attention block: h = x + o(att), att = attention(rope(q), rope(k), v), qkv = proj(xn1)
    gemm_backward_inp_cpu(datt.data(), dh.data(), lw.o.materialize(scratch), N, qd, C);
    if (lora) lora_site_backward(*lora, l, lora_site::o, dh.data(), N, C, datt.data(), st.lora);
    attention_backward_cpu(dq.data(), dk.data(), dv.data(), datt.data(), a.att.data(), a.lse.data(),
                           a.q.data(), a.k.data(), a.v.data(), B, T, NH, NKV, HS, scale,
                           c.layer_window[static_cast<size_t>(l)]);
    rope_backward_cpu(dq.data(), dq.data(), st.cos.data(), st.sin.data(), N, NH, HS);
    rope_backward_cpu(dk.data(), dk.data(), st.cos.data(), st.sin.data(), N, NKV, HS);
    join_qkv(dq.data(), dk.data(), dv.data(), N, qd, kvd, dqkv.data());
    gemm_backward_inp_cpu(dxn.data(), dqkv.data(), lw.qkv.materialize(scratch), N, C, QKV);
    if (lora)
      lora_site_backward(*lora, l, lora_site::qkv, dqkv.data(), N, QKV, dxn.data(), st.lora);
    rmsnorm_backward_cpu(dpart.data(), dnorm_w.data(), dxn.data(), a.x.data(), lw.input_norm.data(),
                         a.rstd1.data(), N, C);
    for (int64_t i = 0; i < N * C; ++i) dx[i] = dh[i] + dpart[i];
  }
  return {};
}

}  // namespace kaito::engine
