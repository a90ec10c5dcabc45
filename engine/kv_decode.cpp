// KV-cache forward steps; see kv_decode.h.
#include "engine/kv_decode.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
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

bool uses_long_factors(const model_config& c, int64_t seq_len) {
  return c.rope.kind == rope_type::longrope && seq_len > c.rope.original_max_position_embeddings;
}

// The new tokens of one sequence: rows [row, row + n) of the step, appended to `cache`; rope_len,
// when larger than the sequence's length after them, is the length whose longrope factors rotate
// them (a prompt prefilled in chunks takes its whole length's, as one prefill would).
struct span {
  kv_cache* cache;
  int64_t row, n;
  int64_t rope_len = 0;
  const lora_adapter* lora = nullptr;  // its LoRA (unmerged; null: the base weights alone)
};

// y (R, ld) += each span's LoRA output on (layer, site) for its rows of x (R, in): one call per
// run of consecutive spans with the same adapter (a batch's sequences may each have their own:
// multi-LoRA serving, vLLM's --lora-modules). acts: per adapter, sized to its modules.
void spans_lora_forward(const std::vector<span>& spans, int64_t layer, lora_site site,
                        const float* x, int64_t in, float* y, int64_t ld,
                        std::vector<std::vector<lora_acts>>& acts) {
  const forward_options eval;
  for (size_t i = 0; i < spans.size();) {
    const lora_adapter* a = spans[i].lora;
    size_t j = i + 1;
    while (j < spans.size() && spans[j].lora == a) ++j;
    if (a != nullptr) {
      const int64_t row = spans[i].row, rows = spans[j - 1].row + spans[j - 1].n - row;
      lora_site_forward(*a, layer, site, x + row * in, rows, y + row * ld, ld, eval, acts[i]);
    }
    i = j;
  }
}

// Runs every span's new tokens through the model as one (R, C) activation; logits gets, per span,
// the logits of its last row ((spans, V)), or with all_rows every row's ((R, V)).
status forward_spans(const model& m, const std::vector<span>& spans,
                     const std::vector<int32_t>& ids, fvec* logits, bool all_rows = false) {
  const model_config& c = m.config;
  const model_weights& w = m.weights;
  const int64_t C = c.hidden_size, I = c.intermediate_size, NH = c.num_heads;
  const int64_t NKV = c.num_kv_heads, HS = c.head_dim, V = c.vocab_size, RD = c.rope.rotary_dim;
  const int64_t qd = NH * HS, kvd = NKV * HS, QKV = qd + 2 * kvd;
  const int64_t R = static_cast<int64_t>(ids.size()), S = static_cast<int64_t>(spans.size());
  const float eps = static_cast<float>(c.rms_norm_eps);
  // RoPE tables row by row: each sequence at its own positions and with its own longrope choice.
  fvec cos(static_cast<size_t>(R * RD)), sin(cos.size());
  for (const span& s : spans) {
    const int64_t L = s.cache->len, Tt = std::max(L + s.n, s.rope_len);
    std::vector<int32_t> pos(static_cast<size_t>(s.n));
    for (int64_t i = 0; i < s.n; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(L + i);
    fvec sc, ss;
    KAITO_TRY(rope_tables(c, pos, Tt, &sc, &ss));
    std::memcpy(cos.data() + s.row * RD, sc.data(), sizeof(float) * sc.size());
    std::memcpy(sin.data() + s.row * RD, ss.data(), sizeof(float) * ss.size());
    s.cache->long_rope = uses_long_factors(c, Tt);
  }
  // (scratch for spans_lora_forward: indexed by the first span of each run; eval mode keeps
  // nothing in it for a backward)
  std::vector<std::vector<lora_acts>> acts(spans.size());
  for (size_t i = 0; i < spans.size(); ++i)
    if (spans[i].lora != nullptr) acts[i].resize(spans[i].lora->modules.size());

  fvec x(static_cast<size_t>(R * C)), xn(x.size()), rstd(static_cast<size_t>(R)), scratch;
  embedding_forward_cpu(x.data(), ids.data(), w.embed.data(), R, V, C);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const layer_weights& lw = w.layers[static_cast<size_t>(l)];
    rmsnorm_forward_cpu(xn.data(), rstd.data(), x.data(), lw.input_norm.data(), R, C, eps);
    fvec qkv(static_cast<size_t>(R * QKV));
    gemm_forward_cpu(qkv.data(), xn.data(), lw.qkv.materialize(scratch), lw.qkv.bias_or_null(), R,
                     C, QKV);
    spans_lora_forward(spans, l, lora_site::qkv, xn.data(), C, qkv.data(), QKV, acts);
    fvec q(static_cast<size_t>(R * qd)), k(static_cast<size_t>(R * kvd)), v(k.size());
    for (int64_t n = 0; n < R; ++n) {
      std::memcpy(q.data() + n * qd, qkv.data() + n * QKV, sizeof(float) * size_t(qd));
      std::memcpy(k.data() + n * kvd, qkv.data() + n * QKV + qd, sizeof(float) * size_t(kvd));
      std::memcpy(v.data() + n * kvd, qkv.data() + n * QKV + qd + kvd, sizeof(float) * size_t(kvd));
    }
    rope_forward_cpu(q.data(), q.data(), cos.data(), sin.data(), R, NH, HS, RD);
    rope_forward_cpu(k.data(), k.data(), cos.data(), sin.data(), R, NKV, HS, RD);
    fvec att(static_cast<size_t>(R * qd));
    for (const span& s : spans) {
      fvec& ck = s.cache->k[static_cast<size_t>(l)];
      fvec& cv = s.cache->v[static_cast<size_t>(l)];
      ck.insert(ck.end(), k.begin() + s.row * kvd, k.begin() + (s.row + s.n) * kvd);
      cv.insert(cv.end(), v.begin() + s.row * kvd, v.begin() + (s.row + s.n) * kvd);
      // The span's queries (positions len..Tt-1) against its Tt cached keys: O(n * Tt).
      const int64_t Tt = s.cache->len + s.n;
      attention_forward_cached_cpu(att.data() + s.row * qd, nullptr, q.data() + s.row * qd,
                                   ck.data(), cv.data(), 1, s.n, Tt, Tt, NH, NKV, HS,
                                   1.0f / std::sqrt(static_cast<float>(HS)),
                                   c.layer_window[static_cast<size_t>(l)]);
    }
    fvec o(static_cast<size_t>(R * C));
    gemm_forward_cpu(o.data(), att.data(), lw.o.materialize(scratch), lw.o.bias_or_null(), R, qd,
                     C);
    spans_lora_forward(spans, l, lora_site::o, att.data(), qd, o.data(), C, acts);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    rmsnorm_forward_cpu(xn.data(), rstd.data(), x.data(), lw.post_norm.data(), R, C, eps);
    fvec gu(static_cast<size_t>(R * 2 * I)), act(static_cast<size_t>(R * I));
    gemm_forward_cpu(gu.data(), xn.data(), lw.gate_up.materialize(scratch), nullptr, R, C, 2 * I);
    spans_lora_forward(spans, l, lora_site::gate_up, xn.data(), C, gu.data(), 2 * I, acts);
    swiglu_forward_cpu(act.data(), gu.data(), gu.data() + I, R, I, 2 * I);
    gemm_forward_cpu(o.data(), act.data(), lw.down.materialize(scratch), nullptr, R, I, C);
    spans_lora_forward(spans, l, lora_site::down, act.data(), I, o.data(), C, acts);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  }
  for (const span& s : spans) s.cache->len += s.n;
  if (logits == nullptr) return {};  // (a prompt chunk before the last: no head)
  if (all_rows) {                    // (prompt logprobs: every position's next-token distribution)
    fvec r(static_cast<size_t>(R));
    rmsnorm_forward_cpu(xn.data(), r.data(), x.data(), w.final_norm.data(), R, C, eps);
    logits->assign(static_cast<size_t>(R * V), 0.0f);
    gemm_forward_cpu(logits->data(), xn.data(), w.lm_head(), nullptr, R, C, V);
    return {};
  }
  // The head on each span's last row only.
  fvec last(static_cast<size_t>(S * C)), last_n(last.size()), r(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {
    const span& s = spans[static_cast<size_t>(i)];
    std::memcpy(last.data() + i * C, x.data() + (s.row + s.n - 1) * C, sizeof(float) * size_t(C));
  }
  rmsnorm_forward_cpu(last_n.data(), r.data(), last.data(), w.final_norm.data(), S, C, eps);
  logits->assign(static_cast<size_t>(S * V), 0.0f);
  gemm_forward_cpu(logits->data(), last_n.data(), w.lm_head(), nullptr, S, C, V);
  return {};
}

}  // namespace

void reset_cache(kv_cache& cache, int64_t layers) {
  cache.k.assign(static_cast<size_t>(layers), {});
  cache.v.assign(static_cast<size_t>(layers), {});
  cache.len = 0;
  cache.long_rope = false;
}

void copy_cache_prefix(const model_config& c, const kv_cache& src, int64_t n, kv_cache& dst) {
  const auto end = static_cast<std::ptrdiff_t>(static_cast<size_t>(n) *
                                               static_cast<size_t>(c.num_kv_heads * c.head_dim));
  dst.k.resize(src.k.size());
  dst.v.resize(src.v.size());
  for (size_t l = 0; l < src.k.size(); ++l) {
    dst.k[l].assign(src.k[l].begin(), src.k[l].begin() + end);
    dst.v[l].assign(src.v[l].begin(), src.v[l].begin() + end);
  }
  dst.len = n;
  dst.long_rope = src.long_rope;
}

status check_prompt(const model_config& c, const std::vector<int32_t>& prompt) {
  if (prompt.empty()) return invalid_argument("the prompt is empty", "prompt");
  for (size_t i = 0; i < prompt.size(); ++i)
    if (prompt[i] < 0 || prompt[i] >= c.vocab_size)
      return invalid_argument("token id out of range", "prompt[" + std::to_string(i) + "]");
  if (static_cast<int64_t>(prompt.size()) > c.max_position_embeddings)
    return invalid_argument("prompt longer than max_position_embeddings", "prompt");
  return {};
}

bool needs_reprefill(const model_config& c, const kv_cache& cache, int64_t seq_len) {
  return uses_long_factors(c, seq_len) != cache.long_rope;
}

status prefill(const model& m, const lora_adapter* lora, kv_cache& cache, const int32_t* ids,
               int64_t P, std::vector<float>* logits, int64_t rope_len, bool all_rows) {
  if (P <= 0) return invalid_argument("nothing to prefill", "prompt");
  return forward_spans(m, {span{&cache, 0, P, rope_len, lora}}, std::vector<int32_t>(ids, ids + P),
                       logits, all_rows);
}

status decode_batch(const model& m, const lora_adapter* lora, const std::vector<kv_cache*>& caches,
                    const std::vector<int32_t>& ids, std::vector<float>* logits) {
  return decode_batch(m, std::vector<const lora_adapter*>(caches.size(), lora), caches, ids,
                      logits);
}

status decode_batch(const model& m, const std::vector<const lora_adapter*>& loras,
                    const std::vector<kv_cache*>& caches, const std::vector<int32_t>& ids,
                    std::vector<float>* logits) {
  if (caches.size() != ids.size() || caches.empty())
    return invalid_argument("one token per cache, at least one", "ids");
  if (loras.size() != caches.size()) return invalid_argument("one adapter per cache", "loras");
  std::vector<span> spans;
  for (size_t b = 0; b < caches.size(); ++b) {
    if (caches[b]->len == 0 || needs_reprefill(m.config, *caches[b], caches[b]->len + 1))
      return invalid_argument("cache " + std::to_string(b) + " needs a prefill first", "caches");
    spans.push_back({caches[b], static_cast<int64_t>(b), 1, 0, loras[b]});
  }
  return forward_spans(m, spans, ids, logits);
}

}  // namespace kaito::engine
