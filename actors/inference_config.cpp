// inference_config; see inference_config.h.
#include "actors/inference_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "protocol/api/yaml.h"

namespace kaito::actors {

namespace {

using json = nlohmann::json;

result<int64_t> integer(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  const double d = v.is_number() ? v.get<double>() : NAN;
  if (!v.is_number() || !(d == std::floor(d)) || d < double(lo) || d > double(hi))
    return invalid_argument("want an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got " +
                                v.dump(-1, ' ', false, json::error_handler_t::replace),
                            field);
  return static_cast<int64_t>(d);
}

// A share that is not a number in (0, 1], named by its key.
status share_error(const json& v, const std::string& field) {
  return invalid_argument(
      "want a number in (0, 1], got " + v.dump(-1, ' ', false, json::error_handler_t::replace),
      field);
}

}  // namespace

result<inference_config_effect> apply_inference_config(std::string_view yaml_text,
                                                       engine::chat_service_config* config) {
  inference_config_effect eff;
  if (yaml_text.find_first_not_of(" \t\r\n") == std::string_view::npos) return eff;  // empty
  KAITO_ASSIGN_OR_RETURN(json root, api::decode_yaml(yaml_text));
  if (root.is_null()) return eff;  // only comments: nothing to apply
  if (!root.is_object()) return invalid_argument("want a mapping of settings", "");
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "kv_cache_cpu_memory_utilization") {
      const double f = it->is_number() ? it->get<double>() : NAN;
      if (!(f > 0.0 && f <= 1.0)) return share_error(*it, it.key());
      eff.kv_cache_memory_fraction = f;
      continue;
    }
    if (it.key() != "vllm") {
      eff.ignored.push_back(it.key());
      continue;
    }
    if (it->is_null()) continue;
    if (!it->is_object()) return invalid_argument("want a mapping of vLLM arguments", "vllm");
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      const std::string field = "vllm." + kv.key();
      if (kv.key() == "max-num-seqs") {
        KAITO_ASSIGN_OR_RETURN(config->max_batch, integer(*kv, field, 1, 4096));
      } else if (kv.key() == "max-model-len") {
        KAITO_ASSIGN_OR_RETURN(config->max_model_len, integer(*kv, field, 1, int64_t(1) << 24));
      } else if (kv.key() == "enable-prefix-caching") {
        if (!kv->is_boolean())
          return invalid_argument(
              "want true or false, got " + kv->dump(-1, ' ', false, json::error_handler_t::replace),
              field);
        config->prefix_caching = kv->get<bool>();
      } else if (kv.key() == "num-gpu-blocks-override") {
        KAITO_ASSIGN_OR_RETURN(config->kv_blocks, integer(*kv, field, 1, int64_t(1) << 26));
      } else if (kv.key() == "gpu-memory-utilization") {
        const double f = kv->is_number() ? kv->get<double>() : NAN;
        if (!(f > 0.0 && f <= 1.0)) return share_error(*kv, field);
        config->gpu_memory_utilization = f;
      } else {
        eff.ignored.push_back(field);
      }
    }
  }
  return eff;
}

result<engine::chat_service_config::lora_module_source> parse_lora_module(const std::string& value,
                                                                          const std::string& served,
                                                                          const std::string& flag) {
  engine::chat_service_config::lora_module_source m;
  if (!value.empty() && value.front() == '{') {
    auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return invalid_argument("want NAME=PATH or a JSON object, got " + value, flag);
    for (const char* key : {"name", "path"}) {
      const auto it = j.find(key);
      if (it == j.end() || !it->is_string() || it->get<std::string>().empty())
        return invalid_argument(std::string("the JSON form needs a string \"") + key + "\"", flag);
    }
    m.name = j["name"].get<std::string>();
    m.dir = j["path"].get<std::string>();
    const auto base = j.find("base_model_name");
    if (base != j.end() && !base->is_null() && *base != served)
      return invalid_argument(
          "base_model_name " + base->dump() + " is not the served model \"" + served + "\"", flag);
  } else {
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
      return invalid_argument("want NAME=PATH, got \"" + value + "\"", flag);
    m.name = value.substr(0, eq);
    m.dir = value.substr(eq + 1);
  }
  if (m.name == served)
    return invalid_argument("LoRA module \"" + m.name + "\" has the served model's name", flag);
  return m;
}

}  // namespace kaito::actors
