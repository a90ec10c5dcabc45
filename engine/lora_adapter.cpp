// LoRA adapter construction and PEFT target/pattern matching (peft tuners_utils
// check_target_module_exists, utils/other.py get_pattern_key).
#include "engine/lora_adapter.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "kernels/lora.h"
#include "kernels/rng.h"

namespace kaito::engine {

namespace {

bool ends_with_component(const std::string& path, const std::string& target) {
  if (path == target) return true;
  return path.size() > target.size() &&
         path.compare(path.size() - target.size(), target.size(), target) == 0 &&
         path[path.size() - target.size() - 1] == '.';
}

// PEFT get_pattern_key: the first key k with re.match(rf"(.*\.)?({k})$", path). Keys that are not
// valid regular expressions are compared literally.
template <class Map>
auto find_pattern(const Map& m, const std::string& path) {
  for (auto it = m.begin(); it != m.end(); ++it) {
    try {
      if (std::regex_match(path, std::regex("(.*\\.)?(" + it->first + ")"))) return it;
    } catch (const std::regex_error&) {
      if (ends_with_component(path, it->first)) return it;
    }
  }
  return m.end();
}

}  // namespace

void lora_adapter::zero_grad() {
  for (auto& m : modules) {
    std::fill(m.dA.begin(), m.dA.end(), 0.0f);
    std::fill(m.dB.begin(), m.dB.end(), 0.0f);
  }
}

int64_t lora_adapter::num_params() const {
  int64_t n = 0;
  for (const auto& m : modules) n += static_cast<int64_t>(m.A.size() + m.B.size());
  return n;
}

lora_module* lora_adapter::find(const std::string& path) {
  for (auto& m : modules)
    if (m.path == path) return &m;
  return nullptr;
}

std::vector<linear_slot> model_linear_slots(const model_config& c) {
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  std::vector<linear_slot> out;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string attn = "model.layers." + std::to_string(l) + ".self_attn.";
    const std::string mlp = "model.layers." + std::to_string(l) + ".mlp.";
    auto add = [&](const std::string& prefix, const char* name, lora_site s, int64_t off,
                   int64_t in, int64_t o) {
      out.push_back({prefix + name, name, l, s, off, in, o});
    };
    if (c.fused_qkv) {
      add(attn, "qkv_proj", lora_site::qkv, 0, C, q + 2 * kv);
    } else {
      add(attn, "q_proj", lora_site::qkv, 0, C, q);
      add(attn, "k_proj", lora_site::qkv, q, C, kv);
      add(attn, "v_proj", lora_site::qkv, q + kv, C, kv);
    }
    add(attn, "o_proj", lora_site::o, 0, q, C);
    if (c.fused_qkv) {
      add(mlp, "gate_up_proj", lora_site::gate_up, 0, C, 2 * I);
    } else {
      add(mlp, "gate_proj", lora_site::gate_up, 0, C, I);
      add(mlp, "up_proj", lora_site::gate_up, I, C, I);
    }
    add(mlp, "down_proj", lora_site::down, 0, I, C);
  }
  return out;
}

bool lora_targets(const lora_config& lc, const linear_slot& slot) {
  if (!lc.layers_to_transform.empty() &&
      std::find(lc.layers_to_transform.begin(), lc.layers_to_transform.end(), slot.layer) ==
          lc.layers_to_transform.end())
    return false;
  if (!lc.target_regex.empty()) {
    try {
      return std::regex_match(slot.path, std::regex(lc.target_regex));
    } catch (const std::regex_error&) {
      return false;
    }
  }
  for (const auto& t : lc.target_modules) {
    if (t == "all-linear" || ends_with_component(slot.path, t)) return true;
  }
  return false;
}

int64_t lora_rank_for(const lora_config& lc, const std::string& path) {
  auto it = find_pattern(lc.rank_pattern, path);
  return it == lc.rank_pattern.end() ? lc.r : it->second;
}

double lora_alpha_for(const lora_config& lc, const std::string& path) {
  auto it = find_pattern(lc.alpha_pattern, path);
  return it == lc.alpha_pattern.end() ? lc.alpha : it->second;
}

lora_module lora_module_for(const lora_config& lc, const linear_slot& slot) {
  lora_module m;
  m.path = slot.path;
  m.target = slot.target;
  m.layer = slot.layer;
  m.site = slot.site;
  m.row_offset = slot.row_offset;
  m.in = slot.in;
  m.out = slot.out;
  m.r = lora_rank_for(lc, slot.path);
  m.alpha = lora_alpha_for(lc, slot.path);
  if (m.r > 0) m.scale = static_cast<float>(lora_scale(m.alpha, m.r, lc.use_rslora));
  return m;
}

result<lora_adapter> lora_create(const model_config& c, const lora_config& lc, uint64_t seed) {
  lora_adapter a;
  a.config = lc;
  uint64_t index = 0;
  for (const auto& slot : model_linear_slots(c)) {
    ++index;
    if (!lora_targets(lc, slot)) continue;
    lora_module m = lora_module_for(lc, slot);
    if (m.r <= 0) return invalid_argument("LoRA rank must be positive", "r");
    m.A.assign(static_cast<size_t>(m.r * m.in), 0.0f);
    m.B.assign(static_cast<size_t>(m.out * m.r), 0.0f);
    m.dA.assign(m.A.size(), 0.0f);
    m.dB.assign(m.B.size(), 0.0f);
    lora_init_cpu(m.A.data(), m.B.data(), m.r, m.in, m.out, rng_derive(seed, index));
    a.modules.push_back(std::move(m));
  }
  if (a.modules.empty())
    return invalid_argument("no module of the model matches the target modules", "target_modules");
  return a;
}

}  // namespace kaito::engine
