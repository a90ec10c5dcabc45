// gpu_model_shape and target_dims (contract: engine/cuda/gpu_model.h). Host code: no CUDA, so the
// CPU-side tests (tests/cuda/hf_fixture_cpu_test) build and check shapes on any machine.
#include <algorithm>
#include <string>

#include "base/check.h"
#include "engine/cuda/gpu_model.h"
#include "engine/cuda/rope_tables.h"
#include "kernels/attention.h"

namespace kaito::gpu {

gpu_model_shape gpu_model_shape::phi3_mini() {
  gpu_model_shape s;
  s.C = 3072;
  s.L = 32;
  s.NH = 32;
  s.NKV = 32;
  s.HS = 96;
  s.I = 8192;
  s.V = 32064;
  s.rope.kind = rope_kind::default_rope;
  s.rope.theta = 10000.0;
  s.rms_eps = 1e-5f;
  s.window = 0;
  s.lora_r = 8;
  s.lora_alpha = 16.0;
  return s;
}

gpu_model_shape gpu_model_shape::tiny() {
  gpu_model_shape s;
  s.C = 128;
  s.L = 2;
  s.NH = 2;
  s.NKV = 1;
  s.HS = 64;
  s.I = 256;
  s.V = 512;
  s.rope.theta = 10000.0;
  s.rms_eps = 1e-5f;
  s.lora_r = 8;
  s.lora_alpha = 16.0;
  return s;
}

status gpu_model_shape::validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return invalid_argument("gpu_model_shape: " + why, field);
  };
  if (C <= 0 || C % 8 != 0) return bad("C", "C must be a positive multiple of 8");
  if (L <= 0) return bad("L", "L must be positive");
  if (NH <= 0 || NKV <= 0 || NH % NKV != 0) return bad("NKV", "NH must be a multiple of NKV > 0");
  if (!attention_head_size(HS))
    return bad("HS", "HS must be 16, 32, 64, 96 or 128 (the attention kernels' sizes)");
  if (rotary != 0 && (rotary < 2 || rotary % 2 != 0 || rotary > HS))
    return bad("rotary", "rotary dims must be even, in [2, HS] (or 0: all of HS)");
  if (I <= 0 || I % 8 != 0) return bad("I", "I must be a positive multiple of 8");
  if (V <= 0) return bad("V", "V must be positive");
  if (window < 0) return bad("window", "window must be >= 0");
  if (lora_r <= 0) return bad("lora_r", "lora_r must be positive");
  if (!(rms_eps > 0.0f)) return bad("rms_eps", "rms_eps must be positive");
  if (!(rope.theta > 0.0)) return bad("rope.theta", "rope_theta must be positive");
  if (rope.kind == rope_kind::longrope) {
    const size_t half = size_t(rotary_dim() / 2);
    if (rope.short_factor.size() != half || rope.long_factor.size() != half)
      return bad("rope.short_factor", "longrope needs rotary_dim/2 = " + std::to_string(half) +
                                          " short and long factors");
    for (size_t i = 0; i < half; ++i)
      if (!(rope.short_factor[i] > 0.0f) || !(rope.long_factor[i] > 0.0f))
        return bad("rope.long_factor", "longrope factors must be positive");
    if (rope_longrope_original_max(rope) <= 0)
      return bad("rope.original_max_position_embeddings",
                 "longrope needs original_max_position_embeddings > 0");
  }
  if (rope.kind == rope_kind::llama3 &&
      (rope.original_max_position_embeddings <= 0 || !(rope.factor > 0.0) ||
       !(rope.high_freq_factor > rope.low_freq_factor)))
    return bad("rope.factor", "llama3 rope needs original_max > 0, factor > 0, high > low");
  return {};
}

linear_dims target_dims(const gpu_model_shape& s, int t) {
  switch (t) {
    case lora_qkv:
      return {s.qkv_dim(), s.C};
    case lora_o:
      return {s.C, s.q_dim()};
    case lora_gate_up:
      return {2 * s.I, s.C};
    default:
      return {s.C, s.I};
  }
}

int64_t gpu_model_shape::lora_rank(int t) const {
  return lora_r * lora_blocks_of(*this, t).nseg;
}

int64_t gpu_model_shape::max_lora_rank() const {
  int64_t r = 0;
  for (int t = 0; t < kLoraTargets; ++t) r = std::max(r, lora_rank(t));
  return r;
}

lora_blocks lora_blocks_of(const gpu_model_shape& s, int t) {
  lora_blocks b;
  if (s.split_lora && t == lora_qkv) {
    b.nseg = 3;
    b.seg_end[0] = s.q_dim();
    b.seg_end[1] = s.q_dim() + s.kv_dim();
    b.seg_end[2] = s.qkv_dim();
  } else if (s.split_lora && t == lora_gate_up) {
    b.nseg = 2;
    b.seg_end[0] = s.I;
    b.seg_end[1] = 2 * s.I;
  } else {
    b.seg_end[0] = target_dims(s, t).out;
  }
  return b;
}

namespace {
int64_t block_begin(const lora_blocks& b, int seg) {
  return seg == 0 ? 0 : b.seg_end[seg - 1];
}
}  // namespace

result<lora_pair> lora_pack_blocks(const gpu_model_shape& s, int t,
                                   const std::vector<lora_pair>& modules) {
  const lora_blocks b = lora_blocks_of(s, t);
  const linear_dims d = target_dims(s, t);
  const int64_t r = s.lora_r, R = s.lora_rank(t);
  if (int64_t(modules.size()) != b.nseg)
    return invalid_argument("expected " + std::to_string(b.nseg) + " LoRA modules, got " +
                                std::to_string(modules.size()),
                            "modules");
  lora_pair out;
  out.B.assign(size_t(d.out * R), 0.0f);
  for (int seg = 0; seg < b.nseg; ++seg) {
    const lora_pair& m = modules[size_t(seg)];
    const int64_t row0 = block_begin(b, seg), rows = b.seg_end[seg] - row0;
    const std::string where = "modules[" + std::to_string(seg) + "]";
    if (int64_t(m.A.size()) != r * d.in)
      return invalid_argument("expected " + std::to_string(r * d.in) + " values",
                              where + ".lora_A");
    if (int64_t(m.B.size()) != rows * r)
      return invalid_argument("expected " + std::to_string(rows * r) + " values",
                              where + ".lora_B");
    out.A.insert(out.A.end(), m.A.begin(), m.A.end());
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t k = 0; k < r; ++k)
        out.B[size_t((row0 + o) * R + seg * r + k)] = m.B[size_t(o * r + k)];
  }
  return out;
}

lora_pair lora_unpack_block(const gpu_model_shape& s, int t, const lora_pair& packed, int seg) {
  const lora_blocks b = lora_blocks_of(s, t);
  const linear_dims d = target_dims(s, t);
  const int64_t r = s.lora_r, R = s.lora_rank(t);
  KAITO_CHECK(seg >= 0 && seg < b.nseg && int64_t(packed.A.size()) == R * d.in &&
                  int64_t(packed.B.size()) == d.out * R,
              "lora_unpack_block: bad sizes or segment ", seg);
  const int64_t row0 = block_begin(b, seg), rows = b.seg_end[seg] - row0;
  lora_pair m;
  m.A.assign(packed.A.begin() + seg * r * d.in, packed.A.begin() + (seg + 1) * r * d.in);
  m.B.resize(size_t(rows * r));
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t k = 0; k < r; ++k)
      m.B[size_t(o * r + k)] = packed.B[size_t((row0 + o) * R + seg * r + k)];
  return m;
}

}  // namespace kaito::gpu
