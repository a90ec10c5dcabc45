// The ConfigMap rules (Kaito: tuning_config_validation.go validateTuningConfigMapSchema,
// validateMethodViaConfigMap, validateTrainingArgsViaConfigMap; inference_config_validation.go).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "protocol/api/field_errors.h"
#include "protocol/api/workspace_validation.h"
#include "protocol/api/yaml.h"

namespace kaito::api {

namespace {

// Go's %T for a value decoded by yaml.v2 into interface{}.
std::string go_type(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "int";
    case json::value_t::number_float:
      return "float64";
    case json::value_t::array:
      return "[]interface {}";
    case json::value_t::object:
      return "map[interface {}]interface {}";
    default:
      return "bool";
  }
}

// utils.SearchRawExtension: depth-first search for `key` in nested maps.
const json* search(const json& j, const std::string& key, int depth = 0) {
  if (depth > kMaxDepth || !j.is_object()) return nullptr;
  if (auto it = j.find(key); it != j.end()) return &*it;
  for (const auto& [k, v] : j.items()) {
    if (const json* r = search(v, key, depth + 1)) return r;
  }
  return nullptr;
}

// filepath.Clean of an absolute path.
std::string clean_path(const std::string& p) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    std::string part =
        p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

result<json> parse_single(const std::string& text) {
  KAITO_ASSIGN_OR_RETURN(auto docs, decode_yaml_documents(text));
  if (docs.empty()) return json(nullptr);
  return std::move(docs[0]);
}

}  // namespace

std::vector<field_error> validate_tuning_config(const std::string& text, const std::string& method,
                                                const std::string& cm_name,
                                                const std::string& cm_namespace) {
  field_errors errs;
  const std::string f = "tuning.config";
  auto parsed = parse_single(text);
  if (!parsed.ok()) {
    errs.generic(f, "Failed to parse 'training_config.yaml' in ConfigMap '" + cm_name +
                        "' in namespace '" + cm_namespace + "': " + parsed.error().to_string());
    return errs.list();
  }
  const json& root = *parsed;
  const json* tc =
      root.is_object() && root.contains("training_config") ? &root["training_config"] : nullptr;
  // 1. schema
  static const std::set<std::string> kSections = {"ModelConfig",   "QuantizationConfig",
                                                  "LoraConfig",    "TrainingArguments",
                                                  "DatasetConfig", "DataCollator"};
  if (!tc || !tc->is_object()) {
    errs.generic(f, "Expected 'training_config' key to contain a map");
  } else {
    for (const auto& [k, v] : tc->items()) {
      if (!kSections.count(k)) {
        errs.generic(f, "Unrecognized section: " + k);
        break;
      }
    }
  }
  json sections = tc && tc->is_object() ? *tc : json::object();
  // 2. method vs quantization
  const std::string qerr =
      "For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be "
      "true in ConfigMap '" +
      cm_name + "'";
  if (sections.contains("QuantizationConfig")) {
    const json& q = sections["QuantizationConfig"];
    const json* b4 = search(q, "load_in_4bit");
    const json* b8 = search(q, "load_in_8bit");
    bool ok = true;
    for (auto [v, key] : {std::pair{b4, "load_in_4bit"}, std::pair{b8, "load_in_8bit"}}) {
      if (ok && v && !v->is_null() && !v->is_boolean()) {
        errs.generic(f, std::string("QuantizationConfig.") + key +
                            ": value must be either nil or a boolean, got type " + go_type(*v));
        ok = false;
      }
    }
    if (ok) {
      bool t4 = b4 && b4->is_boolean() && b4->get<bool>();
      bool t8 = b8 && b8->is_boolean() && b8->get<bool>();
      if (t4 && t8)
        errs.generic(f,
                     "Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in "
                     "ConfigMap '" +
                         cm_name + "'");
      else if (method == "lora" && (t4 || t8))
        errs.generic(f, "For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '" +
                            cm_name + "' must not be true");
      else if (method == "qlora" && !t4 && !t8)
        errs.required(f, qerr);
    }
  } else if (method == "qlora") {
    errs.required(f, qerr);
  }
  // 3. TrainingArguments.output_dir
  if (sections.contains("TrainingArguments")) {
    if (const json* od = search(sections["TrainingArguments"], "output_dir")) {
      if (!od->is_string()) {
        errs.generic(f, "output_dir is not a string in ConfigMap '" + cm_name + "' in namespace '" +
                            cm_namespace + "'");
      } else {
        std::string dir = od->get<std::string>();
        std::string clean = clean_path("/mnt/" + dir);
        if (clean == "/mnt" || clean.rfind("/mnt", 0) != 0)
          errs.generic(f, "Invalid output_dir specified: '" + dir + "', must be a directory");
      }
    }
  }
  return errs.list();
}

std::vector<field_error> validate_inference_config(const std::string& text,
                                                   const preset_facts* preset) {
  field_errors errs;
  const std::string f = "inference.config";
  auto parsed = parse_single(text);
  if (!parsed.ok()) {
    errs.generic(f, "Failed to parse inference_config.yaml: " + parsed.error().to_string());
    return errs.list();
  }
  const json& root = *parsed;
  if (!root.is_object() || !root.contains("vllm") || root["vllm"].is_null()) return errs.list();
  const json& vllm = root["vllm"];
  if (!vllm.is_object()) {
    errs.generic(
        f, "Failed to parse inference_config.yaml: vllm: expected a map, got " + go_type(vllm));
    return errs.list();
  }
  for (const auto& [k, v] : vllm.items()) {
    if (v.is_object() || v.is_array()) {
      errs.generic(f, "Failed to parse inference_config.yaml: vllm." + k +
                          ": expected a scalar, got " + go_type(v));
      return errs.list();
    }
  }
  if (!vllm.contains("max-model-len")) return errs.list();
  const json& m = vllm["max-model-len"];
  std::string raw = m.is_string() ? m.get<std::string>() : m.is_null() ? "" : m.dump();
  std::string trimmed = raw;
  trimmed.erase(0, trimmed.find_first_not_of(" \t\r\n"));
  trimmed.erase(trimmed.find_last_not_of(" \t\r\n") + 1);
  if (trimmed.empty() || !preset || preset->model_token_limit <= 0) return errs.list();
  bool digits = !trimmed.empty();
  size_t start = (trimmed[0] == '+' || trimmed[0] == '-') ? 1 : 0;
  if (start == trimmed.size()) digits = false;
  for (size_t i = start; i < trimmed.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(trimmed[i]))) digits = false;
  if (!digits) {
    errs.generic(f, "max-model-len must be an integer: strconv.Atoi: parsing " +
                        render_value(trimmed) + ": invalid syntax");
    return errs.list();
  }
  errno = 0;
  long long v = std::strtoll(trimmed.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    errs.generic(f, "max-model-len must be an integer: strconv.Atoi: parsing " +
                        render_value(trimmed) + ": value out of range");
    return errs.list();
  }
  if (v > preset->model_token_limit)
    errs.generic(f, "max-model-len " + std::to_string(v) +
                        " exceeds model's maximum supported context window " +
                        std::to_string(preset->model_token_limit) + " (ModelTokenLimit)");
  return errs.list();
}

}  // namespace kaito::api
