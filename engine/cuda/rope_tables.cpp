// rope_tables (contract: engine/cuda/rope_tables.h).
#include "engine/cuda/rope_tables.h"

#include <algorithm>

namespace kaito::gpu {

namespace {

// Rows [first, last) of a (max_T, RD) table with the frequencies of a forward of seq_len tokens.
void fill_rows(const rope_params& p, int64_t RD, int64_t seq_len, int64_t first, int64_t last,
               float* cos, float* sin) {
  if (first >= last) return;
  const std::vector<float> inv = rope_inv_freq(p, seq_len);
  std::vector<int32_t> pos(size_t(last - first));
  for (int64_t t = first; t < last; ++t) pos[size_t(t - first)] = int32_t(t);
  rope_cos_sin_cpu(cos + first * RD, sin + first * RD, pos.data(), inv.data(),
                   float(rope_attention_factor(p)), last - first, RD);
}

}  // namespace

int64_t rope_longrope_original_max(const rope_params& p) {
  return p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings
                                                : p.max_position_embeddings;
}

bool rope_forward_uses_long(const rope_params& p, int64_t T) {
  return p.kind == rope_kind::longrope && T > rope_longrope_original_max(p);
}

rope_tables make_rope_tables(const rope_params& params, int64_t RD, int64_t max_T) {
  rope_params p = params;
  p.head_dim = RD;
  rope_tables t;
  t.cos.resize(size_t(max_T * RD));
  t.sin.resize(t.cos.size());
  if (p.kind != rope_kind::longrope) {
    fill_rows(p, RD, max_T, 0, max_T, t.cos.data(), t.sin.data());
    return t;
  }
  const int64_t orig = rope_longrope_original_max(p);
  const int64_t split = std::clamp<int64_t>(orig, 0, max_T);
  fill_rows(p, RD, /*seq_len=*/1, 0, split, t.cos.data(), t.sin.data());             // short
  fill_rows(p, RD, /*seq_len=*/orig + 1, split, max_T, t.cos.data(), t.sin.data());  // long
  if (max_T > orig) {
    t.cos_long.resize(t.cos.size());
    t.sin_long.resize(t.cos.size());
    fill_rows(p, RD, orig + 1, 0, max_T, t.cos_long.data(), t.sin_long.data());
  }
  return t;
}

}  // namespace kaito::gpu
