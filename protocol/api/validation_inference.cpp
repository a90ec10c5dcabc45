// inference.* admission rules (Kaito: InferenceSpec.validateCreate / validateUpdate,
// AdapterSpec.validateCreateorUpdate, Workspace.validateInferenceConfig).
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "protocol/api/k8s_names.h"
#include "protocol/api/validation_internal.h"
#include "protocol/api/workspace.h"

namespace kaito::api::detail {

namespace {

constexpr size_t kMaxAdapters = 10;

// strconv.ParseFloat(s, 64): ok, or Go's error text.
bool parse_go_float(const std::string& s, double* out, std::string* err) {
  std::string quoted = render_value(s);
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) {
    *err = "strconv.ParseFloat: parsing " + quoted + ": invalid syntax";
    return false;
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) {
    *err = "strconv.ParseFloat: parsing " + quoted + ": invalid syntax";
    return false;
  }
  if (errno == ERANGE && (v > 1 || v < -1)) {
    *err = "strconv.ParseFloat: parsing " + quoted + ": value out of range";
    return false;
  }
  *out = v;
  return true;
}

void duplicate_names(const std::vector<adapter_spec>& adapters, field_errors& errs) {
  std::set<std::string> seen;
  for (size_t i = 0; i < adapters.size(); ++i) {
    if (!adapters[i].source) continue;
    std::string name = adapters[i].source->name.value_or("");
    if (!seen.insert(name).second)
      errs.generic("inference.adapters[" + std::to_string(i) + "].source.name",
                   "Duplicate adapter source name found: " + name);
  }
}

}  // namespace

void adapters_check(const std::vector<adapter_spec>& adapters, field_errors& errs) {
  for (size_t i = 0; i < adapters.size(); ++i) {
    const adapter_spec& a = adapters[i];
    std::string p = "inference.adapters[" + std::to_string(i) + "]";
    if (!a.source) {
      errs.required(p + ".source");
      continue;
    }
    const data_source& src = *a.source;
    data_source_create(src, p + ".source", errs);
    std::string name = src.name.value_or("");
    if (name.empty()) {
      errs.required(p + ".source.name", "Name of Adapter field must be specified");
    } else {
      auto msgs = is_dns1123_subdomain(name);
      if (!msgs.empty()) errs.invalid(p + ".source.name", name, join_messages(msgs));
    }
    if (src.image.value_or("").empty() && !src.volume_source)
      errs.generic(p + ".source", "Either Image or Volume must be specified for adapter source");
    if (src.urls && !src.urls->empty())
      errs.generic(p + ".source.urls", "URLs are not supported as adapter source");
    std::string strength = a.strength.value_or("1.0");
    double v = 0;
    std::string err;
    if (!parse_go_float(strength, &v, &err)) {
      errs.generic(p + ".strength", "Invalid strength value for Adapter '" + name + "': " + err);
    } else if (v < 0 || v > 1.0) {
      errs.generic(p + ".strength",
                   "Strength value for Adapter '" + name + "' must be between 0 and 1");
    }
  }
}

void inference_create(const workspace& ws, const validation_options& opt, field_errors& errs) {
  const inference_spec& inf = *ws.inference;
  if (!inf.preset && !inf.template_)
    errs.required("inference", "Preset or Template must be specified");
  if (inf.preset && inf.template_)
    errs.generic("inference", "Preset and Template cannot be set at the same time");
  if (inf.preset) {
    std::string name = inf.preset->name.value_or("");
    const preset_facts* p = opt.presets ? opt.presets->find_preset(to_lower(name)) : nullptr;
    if (!p || p->deprecated || !p->supports_inference) {
      errs.invalid("inference.preset.name", name, "Unsupported inference preset name " + name);
      return;  // as Kaito does
    }
    std::string runtime = workspace_runtime(ws);
    std::vector<std::string> rt;
    const auto& adapters = inf.adapters.value_or(std::vector<adapter_spec>{});
    if (runtime == "vllm") {
      if (!adapters.empty() && !p->vllm_supports_lora)
        rt.push_back("vLLM does not support LoRA adapters for this model: " + p->name);
      for (const auto& a : adapters) {
        if (a.strength) {
          rt.push_back("vLLM does not support adapter strength");
          break;
        }
      }
    } else if (!p->supports_transformers) {
      rt.push_back("model " + p->name +
                   " does not support inference with Huggingface Transformers runtime");
    }
    if (!rt.empty()) errs.generic("inference", "Runtime validation: " + join_messages(rt));
    std::string secret;
    if (inf.preset->options) secret = inf.preset->options->model_access_secret.value_or("");
    const std::string sp = "inference.preset.presetOptions.modelAccessSecret";
    if (p->download_at_runtime && secret.empty())
      errs.generic(sp,
                   "This preset requires authentication and needs a modelAccessSecret with "
                   "HF_TOKEN key under presetOptions to download the model");
    else if (!p->download_at_runtime && !secret.empty())
      errs.generic(sp,
                   "This preset does not require a modelAccessSecret with HF_TOKEN key under "
                   "presetOptions");
  }
  if (inf.adapters) {
    if (inf.adapters->size() > kMaxAdapters)
      errs.too_many("inference.adapters",
                    "Number of Adapters exceeds the maximum limit, maximum of " +
                        std::to_string(kMaxAdapters) + " allowed");
    adapters_check(*inf.adapters, errs);
    duplicate_names(*inf.adapters, errs);
  }
}

void inference_config_create(const workspace& ws, const validation_options& opt,
                             field_errors& errs) {
  if (!opt.config_maps || workspace_runtime(ws) != "vllm") return;
  const inference_spec& inf = *ws.inference;
  std::string name = inf.config.value_or("");
  std::string ns = ws_namespace(ws, opt);
  if (name.empty()) {
    name = "inference-params-template";
    ns = opt.release_namespace;
  }
  auto cm = opt.config_maps(ns, name);
  if (!cm.ok()) {
    config_map_error(cm.error(), "inference.config", name, ns, errs);
    return;
  }
  auto it = cm->data.find("inference_config.yaml");
  if (it == cm->data.end()) {
    errs.required("inference.config", "inference_config.yaml in ConfigMap");
    return;
  }
  const preset_facts* p = nullptr;
  if (inf.preset && opt.presets)
    p = opt.presets->find_preset(to_lower(inf.preset->name.value_or("")));
  errs.append(validate_inference_config(it->second, p));
}

void inference_update(const inference_spec& old_i, const inference_spec& i, field_errors& errs) {
  json op = old_i.preset ? encode_preset_spec(*old_i.preset) : json(nullptr);
  json np = i.preset ? encode_preset_spec(*i.preset) : json(nullptr);
  if (op != np) errs.generic("inference.preset", "field is immutable");
  if (i.template_.has_value() != old_i.template_.has_value())
    errs.generic("inference.template", "field cannot be unset/set if it was set/unset");
  if (i.adapters) {
    adapters_check(*i.adapters, errs);
    duplicate_names(*i.adapters, errs);
  }
}

}  // namespace kaito::api::detail
