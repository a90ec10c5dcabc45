// Test helper: small random models in memory and on disk (HF folder layout), deterministic from a
// seed (kernels/rng.h), for the engine tests that need shapes the shared fixtures do not cover
// (qwen2 biases, tied embeddings, sliding windows, shards).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/model_weights.h"
#include "engine/safetensors.h"
#include "kernels/rng.h"

namespace kaito::engine::testing {

inline std::vector<float> random_vec(int64_t n, uint64_t seed, float amp, float center = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = center + amp * (2.0f * rng_uniform(seed, i) - 1.0f);
  return v;
}

// The HF state dict of a random model for config `c` (names as transformers saves them).
inline std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> random_state_dict(
    const model_config& c, uint64_t seed) {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> sd;
  uint64_t tag = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float amp, float center) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    sd[name] = {shape, random_vec(n, rng_derive(seed, ++tag), amp, center)};
  };
  const int64_t C = c.hidden_size, I = c.intermediate_size, HS = c.head_dim;
  const int64_t q = c.num_heads * HS, kv = c.num_kv_heads * HS;
  add("model.embed_tokens.weight", {c.vocab_size, C}, 0.5f, 0.0f);
  add("model.norm.weight", {C}, 0.2f, 1.0f);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, C}, 0.3f, 0.0f);
  const float wa = 0.3f;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {C}, 0.2f, 1.0f);
    add(p + "post_attention_layernorm.weight", {C}, 0.2f, 1.0f);
    if (c.fused_qkv) {
      add(p + "self_attn.qkv_proj.weight", {q + 2 * kv, C}, wa, 0.0f);
      add(p + "mlp.gate_up_proj.weight", {2 * I, C}, wa, 0.0f);
    } else {
      add(p + "self_attn.q_proj.weight", {q, C}, wa, 0.0f);
      add(p + "self_attn.k_proj.weight", {kv, C}, wa, 0.0f);
      add(p + "self_attn.v_proj.weight", {kv, C}, wa, 0.0f);
      if (c.qkv_bias) {
        add(p + "self_attn.q_proj.bias", {q}, 0.2f, 0.0f);
        add(p + "self_attn.k_proj.bias", {kv}, 0.2f, 0.0f);
        add(p + "self_attn.v_proj.bias", {kv}, 0.2f, 0.0f);
      }
      add(p + "mlp.gate_proj.weight", {I, C}, wa, 0.0f);
      add(p + "mlp.up_proj.weight", {I, C}, wa, 0.0f);
    }
    add(p + "self_attn.o_proj.weight", {C, q}, wa, 0.0f);
    if (c.o_bias) add(p + "self_attn.o_proj.bias", {C}, 0.2f, 0.0f);
    add(p + "mlp.down_proj.weight", {C, I}, wa, 0.0f);
  }
  return sd;
}

// Writes config.json and the state dict into `dir`, split over `shards` files (with an index
// when shards > 1).
inline status write_model_folder(const std::string& dir, const std::string& config_json,
                                 const model_config& c, uint64_t seed, int shards) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir + "/config.json");
    f << config_json;
  }
  auto sd = random_state_dict(c, seed);
  std::vector<std::vector<st_write_entry>> parts(static_cast<size_t>(shards));
  std::string index = R"({"metadata": {}, "weight_map": {)";
  int i = 0;
  for (const auto& [name, t] : sd) {
    const int s = i++ % shards;
    parts[static_cast<size_t>(s)].push_back(st_f32_entry(name, t.first, t.second));
    const std::string file =
        shards == 1 ? "model.safetensors" : "model-0000" + std::to_string(s + 1) + ".safetensors";
    index += std::string(i > 1 ? ", " : "") + "\"" + name + "\": \"" + file + "\"";
  }
  index += "}}";
  for (int s = 0; s < shards; ++s) {
    const std::string file =
        shards == 1 ? "model.safetensors" : "model-0000" + std::to_string(s + 1) + ".safetensors";
    KAITO_TRY(write_safetensors(dir + "/" + file, parts[static_cast<size_t>(s)]));
  }
  if (shards > 1) {
    std::ofstream f(dir + "/model.safetensors.index.json");
    f << index;
  }
  return {};
}

// A random model of config `json` (weights from `seed`), loaded from a folder written under the
// test temp dir and removed again; null (with a failure recorded) when it does not load.
inline std::shared_ptr<model> load_random_model(const char* json, const std::string& tag,
                                                uint64_t seed) {
  auto c = parse_model_config(json);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) return nullptr;
  const std::string dir =
      ::testing::TempDir() + "/kaito_model_" + tag + "_" + std::to_string(getpid());
  EXPECT_TRUE(write_model_folder(dir, json, c.value(), seed, 1).ok());
  auto m = load_model(dir);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(m.ok());
  return m.ok() ? std::move(m.value()) : nullptr;
}

// The largest |a[i] - b[i]| (sizes must match).
inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// Two small decoding configs: GQA llama, and GQA phi3 longrope whose sequences cross
// original_max_position_embeddings = 16 (short -> long factors).
inline constexpr const char* kDecodeLlamaConfig = R"({"model_type":"llama","vocab_size":64,
    "hidden_size":48,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":6,
    "num_key_value_heads":2,"max_position_embeddings":128,"rms_norm_eps":1e-5,
    "rope_theta":10000.0})";
inline constexpr const char* kDecodePhi3Config = R"({"model_type":"phi3","vocab_size":64,
    "hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,
    "num_key_value_heads":2,"max_position_embeddings":128,"original_max_position_embeddings":16,
    "rms_norm_eps":1e-5,"rope_theta":10000.0,"rope_scaling":{"type":"longrope",
    "short_factor":[1.0,1.1,1.2,1.3],"long_factor":[1.0,2.0,3.0,4.0]}})";

}  // namespace kaito::engine::testing
