// rope_tables: the fp32 cos/sin tables the GPU model keeps for positions 0..max_T-1, for every
// rope kind of kernels/rope.h (default, longrope/su, llama3), laid out as rope_cos_sin_cpu makes
// them: (max_T, RD), RD the rotary dims (the head dim HS unless partial rotary), row p = position
// p, cos and sin already multiplied by the attention factor.
//
// Longrope picks its factors per forward from seq_len = max(position id) + 1 (HF
// longrope_frequency_update): short_factor while seq_len <= original_max_position_embeddings,
// long_factor beyond. Two tables cover every case HF produces:
//   cos, sin        row p: the factors of a forward whose last position is p (seq_len = p + 1):
//                   short rows below original_max, long rows from there. This is what one-token
//                   decode steps use (HF rotates each new token by its own step's factors and
//                   keeps the cached keys as they were), and, because its rows below original_max
//                   are the short ones, what any forward of T <= original_max tokens uses.
//   cos_long, sin_long  every row with long factors: a forward (prefill, training) of
//                   T > original_max tokens. Empty unless longrope and max_T > original_max.
// Default and llama3 rope have one set of frequencies: cos_long stays empty.
// Host only (no CUDA): the GPU model uploads these; tests build them on any machine.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/rope.h"

namespace kaito::gpu {

struct rope_tables {
  std::vector<float> cos, sin;            // (max_T, RD)
  std::vector<float> cos_long, sin_long;  // (max_T, RD) or empty
};

// p.head_dim is taken as RD (whatever p holds). Preconditions (gpu_model_shape::validate checks
// them first): RD even and > 0, max_T > 0, longrope factors RD/2 each.
rope_tables make_rope_tables(const rope_params& p, int64_t RD, int64_t max_T);

// True when a forward over positions 0..T-1 uses the long table.
bool rope_forward_uses_long(const rope_params& p, int64_t T);

// The longrope threshold: original_max_position_embeddings (max_position_embeddings when the
// original is not given, as kernels/rope.cpp does).
int64_t rope_longrope_original_max(const rope_params& p);

}  // namespace kaito::gpu
