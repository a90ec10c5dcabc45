// gpu_model_shape and target_dims (contract: engine/cuda/gpu_model.h). Host code: no CUDA, so the
// CPU-side tests (tests/cuda/hf_fixture_cpu_test) build and check shapes on any machine.
#include <string>

#include "engine/cuda/gpu_model.h"
#include "engine/cuda/rope_tables.h"

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

status gpu_model_shape::validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return invalid_argument("gpu_model_shape: " + why, field);
  };
  if (C <= 0 || C % 8 != 0) return bad("C", "C must be a positive multiple of 8");
  if (L <= 0) return bad("L", "L must be positive");
  if (NH <= 0 || NKV <= 0 || NH % NKV != 0) return bad("NKV", "NH must be a multiple of NKV > 0");
  if (!(HS == 32 || HS == 64 || HS == 96 || HS == 128))
    return bad("HS", "HS must be 32, 64, 96 or 128 (the attention kernel's sizes)");
  if (I <= 0 || I % 8 != 0) return bad("I", "I must be a positive multiple of 8");
  if (V <= 0) return bad("V", "V must be positive");
  if (window < 0) return bad("window", "window must be >= 0");
  if (lora_r <= 0) return bad("lora_r", "lora_r must be positive");
  if (!(rms_eps > 0.0f)) return bad("rms_eps", "rms_eps must be positive");
  if (!(rope.theta > 0.0)) return bad("rope.theta", "rope_theta must be positive");
  if (rope.kind == rope_kind::longrope) {
    const size_t half = size_t(HS / 2);
    if (rope.short_factor.size() != half || rope.long_factor.size() != half)
      return bad("rope.short_factor",
                 "longrope needs HS/2 = " + std::to_string(half) + " short and long factors");
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

}  // namespace kaito::gpu
