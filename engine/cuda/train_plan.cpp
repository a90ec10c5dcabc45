// train_plan (contract: engine/cuda/train_plan.h).
#include "engine/cuda/train_plan.h"

#include <algorithm>
#include <string>

namespace kaito::gpu {
namespace {

constexpr size_t kAlign = 256;

size_t align_up(size_t x) {
  return (x + kAlign - 1) / kAlign * kAlign;
}

// A bump layout: each take() returns the current offset and advances past `bytes`, aligned.
struct layout {
  size_t top = 0;
  size_t take(int64_t count, size_t elem) {
    const size_t at = top;
    top = align_up(top + size_t(count) * elem);
    return at;
  }
};

constexpr size_t kBf16 = 2, kF32 = 4, kI32 = 4;

}  // namespace

result<train_plan> make_train_plan(const gpu_model_shape& s, int64_t B, int64_t T, bool checkpoint,
                                   bool dropout, int64_t chunk_rows) {
  KAITO_TRY(s.validate());
  if (B <= 0) return invalid_argument("batch size must be positive", "B");
  if (T <= 0) return invalid_argument("sequence length must be positive", "T");
  // Keep every product below 2^50 (int64 and size_t arithmetic never overflow below).
  const double approx =
      double(B) * double(T) * double(std::max({s.C, s.I, s.V})) * 64.0 * double(s.L + 2);
  if (approx > double(int64_t(1) << 50))
    return invalid_argument("B*T too large for this shape", "B");
  train_plan p;
  p.B = B;
  p.T = T;
  p.N = B * T;
  p.checkpoint = checkpoint;
  p.dropout = dropout;
  p.chunk_rows = chunk_rows > 0 ? std::min(chunk_rows, p.N) : std::min<int64_t>(p.N, 1024);
  const int64_t N = p.N, C = s.C, Q = s.q_dim(), KV = s.kv_dim(), QKV = s.qkv_dim(), I = s.I,
                R = s.max_lora_rank(), V = s.V, Nc = p.chunk_rows;
  layout g;
  p.ids = g.take(N, kI32);
  p.targets = g.take(N, kI32);
  p.cos = g.take(N * s.rotary_dim(), kF32);
  p.sin = g.take(N * s.rotary_dim(), kF32);
  p.xin_stride = align_up(size_t(N * C) * kBf16);
  p.xin = g.top;
  g.top += p.xin_stride * size_t(s.L + 1);

  layout ls;  // one layer activation set
  layer_slots& sl = p.slot;
  sl.rstd1 = ls.take(N, kF32);
  sl.q = ls.take(N * Q, kBf16);
  sl.k = ls.take(N * KV, kBf16);
  sl.v = ls.take(N * KV, kBf16);
  sl.att = ls.take(N * Q, kBf16);
  sl.lse = ls.take(B * s.NH * T, kF32);
  sl.xmid = ls.take(N * C, kBf16);
  sl.rstd2 = ls.take(N, kF32);
  sl.gu = ls.take(N * 2 * I, kBf16);
  for (int t = 0; t < kLoraTargets; ++t) sl.z[t] = ls.take(N * R, kBf16);
  for (int t = 0; t < kLoraTargets; ++t)
    sl.xd[t] = ls.take(dropout ? N * target_dims(s, t).in : 0, kBf16);
  p.set_stride = ls.top;
  p.set_count = checkpoint ? 1 : s.L;
  p.sets = g.top;
  g.top += p.set_stride * size_t(p.set_count);

  p.hf = g.take(N * C, kBf16);
  p.rstdf = g.take(N, kF32);
  p.losses = g.take(N, kF32);
  p.ce_lse = g.take(N, kF32);
  p.logits = g.take(Nc * V, kBf16);
  p.logits32 = g.take(Nc * V, kF32);
  p.dhf = g.take(N * C, kBf16);
  p.hn = g.take(N * C, kBf16);
  p.act = g.take(N * I, kBf16);
  p.qkv = g.take(N * std::max(QKV, C), kBf16);
  p.dres = g.take(N * C, kBf16);
  p.dtmp = g.take(N * C, kBf16);
  p.dh = g.take(N * C, kBf16);
  p.dgu = g.take(N * 2 * I, kBf16);
  p.dact = g.take(N * I, kBf16);
  p.datt = g.take(N * Q, kBf16);
  p.dq = g.take(N * Q, kBf16);
  p.dk = g.take(N * KV, kBf16);
  p.dv = g.take(N * KV, kBf16);
  p.dqkv = g.take(N * QKV, kBf16);
  p.dz = g.take(N * R, kBf16);
  p.sumsq = g.take(1, kF32);
  p.total = g.top;
  return p;
}

}  // namespace kaito::gpu
