// PEFT adapter import/export (peft save_and_load.py, lora/config.py).
#include "engine/peft_adapter.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "kernels/lora.h"

namespace kaito::engine {

namespace {

using json = nlohmann::json;
constexpr const char* k_prefix = "base_model.model.";

status expect_false(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_boolean()) return invalid_argument("must be a boolean", key);
  if (it->get<bool>()) return status(status_code::unimplemented, "is not supported", key);
  return {};
}

}  // namespace

result<lora_config> parse_peft_config(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("adapter_config.json is not a JSON object");
  lora_config lc;
  if (auto it = j.find("peft_type"); it != j.end() && !(it->is_string() && *it == "LORA"))
    return invalid_argument("only LORA adapters are supported", "peft_type");
  auto r = j.find("r");
  if (r == j.end() || !r->is_number_integer() || r->get<int64_t>() <= 0)
    return invalid_argument("must be a positive integer", "r");
  lc.r = r->get<int64_t>();
  auto a = j.find("lora_alpha");
  if (a == j.end() || !a->is_number()) return invalid_argument("must be a number", "lora_alpha");
  lc.alpha = a->get<double>();
  if (auto it = j.find("lora_dropout"); it != j.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() >= 1)
      return invalid_argument("must be a number in [0, 1)", "lora_dropout");
    lc.dropout = it->get<double>();
  }
  if (auto it = j.find("use_rslora"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return invalid_argument("must be a boolean", "use_rslora");
    lc.use_rslora = it->get<bool>();
  }
  for (const char* k : {"use_dora", "lora_bias", "fan_in_fan_out"}) KAITO_TRY(expect_false(j, k));
  if (auto it = j.find("modules_to_save");
      it != j.end() && !it->is_null() && !(it->is_array() && it->empty()))
    return status(status_code::unimplemented, "is not supported", "modules_to_save");
  auto t = j.find("target_modules");
  if (t == j.end() || t->is_null()) return invalid_argument("is required", "target_modules");
  if (t->is_string()) {
    if (*t == "all-linear")
      lc.target_modules = {"all-linear"};
    else
      lc.target_regex = t->get<std::string>();
  } else if (t->is_array()) {
    for (const auto& v : *t) {
      if (!v.is_string()) return invalid_argument("must hold strings", "target_modules");
      lc.target_modules.push_back(v.get<std::string>());
    }
  } else {
    return invalid_argument("must be a string or a list of strings", "target_modules");
  }
  if (auto it = j.find("rank_pattern"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return invalid_argument("must be an object", "rank_pattern");
    for (auto p = it->begin(); p != it->end(); ++p) {
      if (!p->is_number_integer() || p->get<int64_t>() <= 0)
        return invalid_argument("must be a positive integer", "rank_pattern." + p.key());
      lc.rank_pattern[p.key()] = p->get<int64_t>();
    }
  }
  if (auto it = j.find("alpha_pattern"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return invalid_argument("must be an object", "alpha_pattern");
    for (auto p = it->begin(); p != it->end(); ++p) {
      if (!p->is_number()) return invalid_argument("must be a number", "alpha_pattern." + p.key());
      lc.alpha_pattern[p.key()] = p->get<double>();
    }
  }
  if (auto it = j.find("layers_to_transform"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      lc.layers_to_transform.push_back(it->get<int64_t>());
    } else if (it->is_array()) {
      for (const auto& v : *it) {
        if (!v.is_number_integer())
          return invalid_argument("must hold integers", "layers_to_transform");
        lc.layers_to_transform.push_back(v.get<int64_t>());
      }
    } else {
      return invalid_argument("must be an integer or a list", "layers_to_transform");
    }
  }
  return lc;
}

std::string peft_tensor_name(const lora_module& m, bool is_b) {
  return std::string(k_prefix) + m.path + (is_b ? ".lora_B.weight" : ".lora_A.weight");
}

result<lora_adapter> load_peft_adapter(const std::string& dir, const model_config& c) {
  const std::string cfg_path = dir + "/adapter_config.json";
  std::ifstream f(cfg_path);
  if (!f) return io_error("cannot read", cfg_path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto lc = parse_peft_config(ss.str());
  if (!lc.ok()) return lc.error().with_context(cfg_path);
  const std::string st_path = dir + "/adapter_model.safetensors";
  KAITO_ASSIGN_OR_RETURN(safetensors_file file, safetensors_file::open(st_path));

  // Every tensor must be the A or B of a known module.
  std::map<std::string, std::pair<const st_tensor_info*, const st_tensor_info*>> found;
  for (const auto& t : file.tensors()) {
    std::string name = t.name;
    if (name.rfind(k_prefix, 0) != 0)
      return invalid_argument("tensor name does not start with base_model.model.", t.name);
    name = name.substr(std::string(k_prefix).size());
    bool is_b = false;
    size_t pos = std::string::npos;
    for (const char* suffix : {".lora_A.weight", ".lora_A.default.weight"}) {
      std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0)
        pos = name.size() - s.size();
    }
    for (const char* suffix : {".lora_B.weight", ".lora_B.default.weight"}) {
      std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        pos = name.size() - s.size();
        is_b = true;
      }
    }
    if (pos == std::string::npos)
      return status(status_code::unimplemented, "only lora_A/lora_B weights are supported", t.name);
    auto& slot = found[name.substr(0, pos)];
    (is_b ? slot.second : slot.first) = &t;
  }

  lora_adapter a;
  a.config = lc.value();
  std::set<std::string> used;
  for (const auto& slot : model_linear_slots(c)) {
    auto it = found.find(slot.path);
    const bool targeted = lora_targets(a.config, slot);
    if (it == found.end()) {
      if (targeted)
        return invalid_argument("targeted module has no weights in the adapter file",
                                std::string(k_prefix) + slot.path);
      continue;
    }
    used.insert(slot.path);
    if (!targeted)
      return invalid_argument("module has weights but is not selected by target_modules",
                              std::string(k_prefix) + slot.path);
    const auto [ta, tb] = it->second;
    if (!ta || !tb)
      return invalid_argument(std::string("missing lora_") + (ta ? "B" : "A") + " weight",
                              std::string(k_prefix) + slot.path);
    lora_module m = lora_module_for(a.config, slot);
    if (ta->shape != std::vector<int64_t>{m.r, m.in})
      return invalid_argument("lora_A shape does not match (r, in_features) = (" +
                                  std::to_string(m.r) + ", " + std::to_string(m.in) + ")",
                              ta->name);
    if (tb->shape != std::vector<int64_t>{m.out, m.r})
      return invalid_argument("lora_B shape does not match (out_features, r) = (" +
                                  std::to_string(m.out) + ", " + std::to_string(m.r) + ")",
                              tb->name);
    KAITO_ASSIGN_OR_RETURN(m.A, st_to_f32(*ta, file.data(*ta)));
    KAITO_ASSIGN_OR_RETURN(m.B, st_to_f32(*tb, file.data(*tb)));
    m.dA.assign(m.A.size(), 0.0f);
    m.dB.assign(m.B.size(), 0.0f);
    a.modules.push_back(std::move(m));
  }
  for (const auto& [path, _] : found)
    if (!used.count(path))
      return invalid_argument("no such linear module in this model", std::string(k_prefix) + path);
  if (a.modules.empty()) return invalid_argument("adapter has no LoRA weights", st_path);
  return a;
}

status save_peft_adapter(const std::string& dir, const lora_adapter& a,
                         const std::string& base_model_name_or_path) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("cannot create directory: " + ec.message(), dir);
  std::vector<std::string> targets;
  std::vector<st_write_entry> entries;
  for (const auto& m : a.modules) {
    if (std::find(targets.begin(), targets.end(), m.target) == targets.end())
      targets.push_back(m.target);
    entries.push_back(st_f32_entry(peft_tensor_name(m, false), {m.r, m.in}, m.A));
    entries.push_back(st_f32_entry(peft_tensor_name(m, true), {m.out, m.r}, m.B));
  }
  const lora_config& lc = a.config;
  json j = {{"peft_type", "LORA"},
            {"task_type", "CAUSAL_LM"},
            {"base_model_name_or_path",
             base_model_name_or_path.empty() ? json(nullptr) : json(base_model_name_or_path)},
            {"r", lc.r},
            {"lora_alpha", lc.alpha},
            {"lora_dropout", lc.dropout},
            {"use_rslora", lc.use_rslora},
            {"use_dora", false},
            {"lora_bias", false},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"modules_to_save", nullptr},
            {"layers_to_transform",
             lc.layers_to_transform.empty() ? json(nullptr) : json(lc.layers_to_transform)},
            {"target_modules", targets},
            {"rank_pattern", json(lc.rank_pattern)},
            {"alpha_pattern", json(lc.alpha_pattern)}};
  KAITO_TRY(write_safetensors(dir + "/adapter_model.safetensors", entries, {{"format", "pt"}}));
  std::ofstream f(dir + "/adapter_config.json", std::ios::trunc);
  if (!f) return io_error("cannot write", dir + "/adapter_config.json");
  f << j.dump(2) << "\n";
  if (!f) return io_error("short write", dir + "/adapter_config.json");
  return {};
}

}  // namespace kaito::engine
