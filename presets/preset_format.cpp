#include "presets/preset_format.h"

#include <algorithm>
#include <cstdio>

#include <yaml-cpp/yaml.h>

#include "presets/quantity.h"

namespace kaito::presets {

std::string format_params(int64_t n) {
  struct unit {
    double scale;
    const char* suffix;
  };
  static const unit kUnits[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
  for (const unit& u : kUnits) {
    if (static_cast<double>(n) >= u.scale) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f%s", static_cast<double>(n) / u.scale, u.suffix);
      return buf;
    }
  }
  return std::to_string(n);
}

namespace {

std::string render_rows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string min_gpu_memory(const preset& p) {
  if (p.cpu_ok && p.inference.total_gpu_memory == 0) return "cpu";
  return format_quantity(p.inference.total_gpu_memory);
}

}  // namespace

std::string presets_table(const std::vector<preset>& presets, bool wide) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "FAMILY", "PARAMS", "TUNING", "MIN GPU MEMORY"});
  if (wide)
    for (const char* h :
         {"GPUS", "DISK", "TUNING GPU MEMORY", "CONTEXT", "CHAT TEMPLATE", "SOURCE"})
      rows.back().push_back(h);
  for (const preset& p : presets) {
    std::vector<std::string> r = {p.name, p.family, format_params(p.parameters),
                                  p.tunable ? "yes" : "no", min_gpu_memory(p)};
    if (wide) {
      r.push_back(std::to_string(p.inference.gpu_count));
      r.push_back(format_quantity(p.inference.disk));
      r.push_back(p.tunable ? format_quantity(p.tuning.total_gpu_memory) : "-");
      r.push_back(std::to_string(p.model_token_limit));
      r.push_back(p.chat_template);
      r.push_back(p.weights.hf_repo.empty() ? p.weights.local_dir : p.weights.hf_repo);
    }
    rows.push_back(std::move(r));
  }
  return render_rows(rows);
}

namespace {

nlohmann::ordered_json needs_json(const resource_needs& r) {
  return {{"disk", format_quantity(r.disk)},
          {"gpu_count", r.gpu_count},
          {"total_gpu_memory", format_quantity(r.total_gpu_memory)},
          {"per_gpu_memory", format_quantity(r.per_gpu_memory)}};
}

nlohmann::ordered_json arch_json(const architecture& a) {
  nlohmann::ordered_json j = {{"model_type", a.model_type},
                              {"hidden_size", a.hidden_size},
                              {"intermediate_size", a.intermediate_size},
                              {"num_hidden_layers", a.num_hidden_layers},
                              {"num_attention_heads", a.num_attention_heads},
                              {"num_key_value_heads", a.num_key_value_heads},
                              {"head_dim", a.head_dim},
                              {"vocab_size", a.vocab_size},
                              {"max_position_embeddings", a.max_position_embeddings}};
  if (a.original_max_position_embeddings)
    j["original_max_position_embeddings"] = a.original_max_position_embeddings;
  j["rope_theta"] = a.rope_theta;
  if (a.rope.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json r = {{"type", a.rope.type}};
    if (!a.rope.short_factor.empty()) r["short_factor"] = a.rope.short_factor;
    if (!a.rope.long_factor.empty()) r["long_factor"] = a.rope.long_factor;
    if (a.rope.factor > 0) r["factor"] = a.rope.factor;
    if (a.rope.low_freq_factor > 0) r["low_freq_factor"] = a.rope.low_freq_factor;
    if (a.rope.high_freq_factor > 0) r["high_freq_factor"] = a.rope.high_freq_factor;
    if (a.rope.original_max_position_embeddings > 0)
      r["original_max_position_embeddings"] = a.rope.original_max_position_embeddings;
    j["rope_scaling"] = r;
  }
  if (a.partial_rotary_factor != 1.0) j["partial_rotary_factor"] = a.partial_rotary_factor;
  if (a.rms_norm_eps > 0) j["rms_norm_eps"] = a.rms_norm_eps;
  if (a.layer_norm_epsilon > 0) j["layer_norm_epsilon"] = a.layer_norm_epsilon;
  j["sliding_window"] = a.sliding_window ? nlohmann::ordered_json(a.sliding_window) : nullptr;
  if (!a.use_sliding_window) j["use_sliding_window"] = false;
  if (a.attention_bias) j["attention_bias"] = true;
  if (a.model_type == "falcon") {
    j["parallel_attn"] = a.parallel_attn;
    j["new_decoder_architecture"] = a.new_decoder_architecture;
  }
  j["tie_word_embeddings"] = a.tie_word_embeddings;
  j["bos_token_id"] = a.bos_token_id;
  j["eos_token_id"] = a.eos_token_ids;
  return j;
}

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::ordered_json::value_t::array: {
      bool scalars =
          std::all_of(j.begin(), j.end(), [](const auto& e) { return e.is_primitive(); });
      out << (scalars ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
      for (const auto& e : j) emit(out, e);
      out << YAML::EndSeq;
      break;
    }
    case nlohmann::ordered_json::value_t::string:
      out << j.get<std::string>();
      break;
    case nlohmann::ordered_json::value_t::boolean:
      out << (j.get<bool>() ? "true" : "false");
      break;
    case nlohmann::ordered_json::value_t::null:
      out << YAML::Null;
      break;
    default: {  // numbers: JSON's own spelling round-trips exactly; YAML floats need a '.'
      std::string s = j.dump();
      size_t e = s.find_first_of("eE");
      if (j.is_number_float() && e != std::string::npos && s.find('.') == std::string::npos)
        s.insert(e, ".0");
      out << s;
      break;
    }
  }
}

}  // namespace

nlohmann::ordered_json preset_to_json(const preset& p) {
  nlohmann::ordered_json w = {{"dtype", p.weights.dtype}};
  if (!p.weights.hf_repo.empty()) {
    w["hf_repo"] = p.weights.hf_repo;
    w["revision"] = p.weights.revision;
  } else {
    w["local_dir"] = p.weights.local_dir;
    if (!p.weights.local_path.empty()) w["local_path"] = p.weights.local_path;
  }
  nlohmann::ordered_json tuning = {{"supported", p.tunable}};
  if (p.tunable) tuning.update(needs_json(p.tuning));
  nlohmann::ordered_json j = {
      {"name", p.name},
      {"family", p.family},
      {"description", p.description},
      {"weights", w},
      {"parameters", p.parameters},
      {"weights_size", format_quantity(p.weights_bytes())},
      {"architecture", arch_json(p.arch)},
      {"inference", needs_json(p.inference)},
      {"tuning", tuning},
      {"cpu_ok", p.cpu_ok},
      {"deprecated", p.deprecated},
      {"download_at_runtime", p.download_at_runtime},
      {"supports_transformers", p.supports_transformers},
      {"vllm_supports_lora", p.vllm_supports_lora},
      {"model_token_limit", p.model_token_limit},
      {"chat_template", p.chat_template},
      {"tool_call_parser", p.tool_call_parser.empty() ? nlohmann::ordered_json()
                                                      : nlohmann::ordered_json(p.tool_call_parser)},
      {"stop_tokens", p.stop_tokens},
      {"stop_token_ids", p.stop_token_ids},
      {"lora_target_modules", p.lora_target_modules},
  };
  return j;
}

std::string json_to_yaml(const nlohmann::ordered_json& j) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  emit(out, j);
  return std::string(out.c_str()) + "\n";
}

std::string preset_to_yaml(const preset& p) {
  return json_to_yaml(preset_to_json(p));
}

}  // namespace kaito::presets
