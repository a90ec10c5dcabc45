// Greedy decoding with a KV cache (see generate.h).
#include "engine/generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/transformer.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito::engine {

namespace {

using fvec = std::vector<float>;

struct kv_cache {
  std::vector<fvec> k, v;  // per layer: (len, NKV*HS) RoPE'd keys, values
  int64_t len = 0;
  bool long_rope = false;  // which longrope factors the cached keys were rotated with
};

bool uses_long_factors(const model_config& c, int64_t seq_len) {
  return c.rope.kind == rope_type::longrope && seq_len > c.rope.original_max_position_embeddings;
}

// Runs P new tokens at positions cache.len .. cache.len+P-1 through the model, appending their K/V
// to the cache; `logits` receives the last row's logits (V).
status run_chunk(const model& m, const lora_adapter* lora, kv_cache& cache, const int32_t* ids,
                 int64_t P, fvec* logits) {
  const model_config& c = m.config;
  const model_weights& w = m.weights;
  const int64_t C = c.hidden_size, I = c.intermediate_size, NH = c.num_heads;
  const int64_t NKV = c.num_kv_heads, HS = c.head_dim, V = c.vocab_size;
  const int64_t qd = NH * HS, kvd = NKV * HS, QKV = qd + 2 * kvd, L = cache.len, Tt = L + P;
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<int32_t> pos(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) pos[i] = static_cast<int32_t>(L + i);
  fvec cos, sin;
  KAITO_TRY(rope_tables(c, pos, Tt, &cos, &sin));
  cache.long_rope = uses_long_factors(c, Tt);
  std::vector<lora_acts> acts(lora ? lora->modules.size() : 0);
  const forward_options eval;

  fvec x(static_cast<size_t>(P * C)), xn(x.size()), rstd(static_cast<size_t>(P)), scratch;
  embedding_forward_cpu(x.data(), ids, w.embed.data(), P, V, C);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const layer_weights& lw = w.layers[static_cast<size_t>(l)];
    rmsnorm_forward_cpu(xn.data(), rstd.data(), x.data(), lw.input_norm.data(), P, C, eps);
    fvec qkv(static_cast<size_t>(P * QKV));
    gemm_forward_cpu(qkv.data(), xn.data(), lw.qkv.materialize(scratch), lw.qkv.bias_or_null(), P,
                     C, QKV);
    if (lora)
      lora_site_forward(*lora, l, lora_site::qkv, xn.data(), P, qkv.data(), QKV, eval, acts);
    fvec q(static_cast<size_t>(P * qd)), k(static_cast<size_t>(P * kvd)), v(k.size());
    for (int64_t n = 0; n < P; ++n) {
      std::memcpy(q.data() + n * qd, qkv.data() + n * QKV, sizeof(float) * size_t(qd));
      std::memcpy(k.data() + n * kvd, qkv.data() + n * QKV + qd, sizeof(float) * size_t(kvd));
      std::memcpy(v.data() + n * kvd, qkv.data() + n * QKV + qd + kvd, sizeof(float) * size_t(kvd));
    }
    rope_forward_cpu(q.data(), q.data(), cos.data(), sin.data(), P, NH, HS, c.rope.rotary_dim);
    rope_forward_cpu(k.data(), k.data(), cos.data(), sin.data(), P, NKV, HS, c.rope.rotary_dim);
    fvec& ck = cache.k[static_cast<size_t>(l)];
    fvec& cv = cache.v[static_cast<size_t>(l)];
    ck.insert(ck.end(), k.begin(), k.end());
    cv.insert(cv.end(), v.begin(), v.end());
    // The P new queries (positions L..Tt-1) against all Tt cached keys: O(P * Tt) per layer.
    fvec att(static_cast<size_t>(P * qd));
    attention_forward_cached_cpu(att.data(), nullptr, q.data(), ck.data(), cv.data(), 1, P, Tt, Tt,
                                 NH, NKV, HS, 1.0f / std::sqrt(static_cast<float>(HS)),
                                 c.layer_window[static_cast<size_t>(l)]);
    fvec o(static_cast<size_t>(P * C));
    gemm_forward_cpu(o.data(), att.data(), lw.o.materialize(scratch), lw.o.bias_or_null(), P, qd,
                     C);
    if (lora) lora_site_forward(*lora, l, lora_site::o, att.data(), P, o.data(), C, eval, acts);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    rmsnorm_forward_cpu(xn.data(), rstd.data(), x.data(), lw.post_norm.data(), P, C, eps);
    fvec gu(static_cast<size_t>(P * 2 * I)), act(static_cast<size_t>(P * I));
    gemm_forward_cpu(gu.data(), xn.data(), lw.gate_up.materialize(scratch), nullptr, P, C, 2 * I);
    if (lora)
      lora_site_forward(*lora, l, lora_site::gate_up, xn.data(), P, gu.data(), 2 * I, eval, acts);
    swiglu_forward_cpu(act.data(), gu.data(), gu.data() + I, P, I, 2 * I);
    gemm_forward_cpu(o.data(), act.data(), lw.down.materialize(scratch), nullptr, P, I, C);
    if (lora) lora_site_forward(*lora, l, lora_site::down, act.data(), P, o.data(), C, eval, acts);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  }
  cache.len = Tt;
  // Head on the last row only.
  const float* last = x.data() + (P - 1) * C;
  float r = 0.0f;
  rmsnorm_forward_cpu(xn.data(), &r, last, w.final_norm.data(), 1, C, eps);
  logits->assign(static_cast<size_t>(V), 0.0f);
  gemm_forward_cpu(logits->data(), xn.data(), w.lm_head(), nullptr, 1, C, V);
  return {};
}

void reset(kv_cache& cache, int64_t layers) {
  cache.k.assign(static_cast<size_t>(layers), {});
  cache.v.assign(static_cast<size_t>(layers), {});
  cache.len = 0;
}

}  // namespace

result<std::vector<int32_t>> generate_greedy(const model& m, const lora_adapter* lora,
                                             const std::vector<int32_t>& prompt,
                                             const generate_options& opt) {
  generate_options greedy = opt;
  greedy.sampling = sampling_params{};
  return generate(m, lora, prompt, greedy);
}

result<std::vector<int32_t>> generate(const model& m, const lora_adapter* lora,
                                      const std::vector<int32_t>& prompt,
                                      const generate_options& opt) {
  const model_config& c = m.config;
  if (prompt.empty()) return invalid_argument("the prompt is empty", "prompt");
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] < 0 || prompt[i] >= c.vocab_size)
      return invalid_argument("token id out of range", "prompt[" + std::to_string(i) + "]");
  if (static_cast<int64_t>(prompt.size()) > c.max_position_embeddings)
    return invalid_argument("prompt longer than max_position_embeddings", "prompt");
  std::vector<int32_t> seq = prompt, out;
  kv_cache cache;
  reset(cache, c.num_layers);
  fvec logits;
  KAITO_TRY(run_chunk(m, lora, cache, seq.data(), static_cast<int64_t>(seq.size()), &logits));
  while (static_cast<int64_t>(out.size()) < opt.max_new_tokens) {
    if (opt.step_logits)
      opt.step_logits->insert(opt.step_logits->end(), logits.begin(), logits.end());
    const int32_t next = sample_token(logits, opt.sampling, seq, out.size());
    out.push_back(next);
    seq.push_back(next);
    if (opt.on_token && !opt.on_token(next)) break;
    if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), next) != opt.stop_tokens.end())
      break;
    if (static_cast<int64_t>(seq.size()) >= c.max_position_embeddings) break;
    const int64_t total = static_cast<int64_t>(seq.size());
    if (uses_long_factors(c, total) != cache.long_rope) {
      // Longrope switch: re-prefill everything with the new factors.
      reset(cache, c.num_layers);
      KAITO_TRY(run_chunk(m, lora, cache, seq.data(), total, &logits));
    } else {
      KAITO_TRY(run_chunk(m, lora, cache, &seq.back(), 1, &logits));
    }
  }
  return out;
}

}  // namespace kaito::engine
