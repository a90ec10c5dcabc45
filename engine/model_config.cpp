// config.json parsing for phi3 / llama / mistral / qwen2. Field meanings follow transformers'
// Phi3Config, LlamaConfig, MistralConfig, Qwen2Config and modeling_rope_utils.
#include "engine/model_config.h"

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kaito::engine {

namespace {

using json = nlohmann::json;

// Field readers: absent or null -> the default; present with the wrong type -> an error.
result<int64_t> get_int(const json& o, const char* key, const std::string& path,
                        std::optional<int64_t> dflt) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (dflt) return *dflt;
    return invalid_argument("required integer field is missing", path + key);
  }
  if (!it->is_number_integer()) return invalid_argument("must be an integer", path + key);
  return it->get<int64_t>();
}

result<double> get_num(const json& o, const char* key, const std::string& path,
                       std::optional<double> dflt) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (dflt) return *dflt;
    return invalid_argument("required number field is missing", path + key);
  }
  if (!it->is_number()) return invalid_argument("must be a number", path + key);
  return it->get<double>();
}

result<bool> get_bool(const json& o, const char* key, bool dflt) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) return invalid_argument("must be a boolean", key);
  return it->get<bool>();
}

result<std::vector<float>> get_factors(const json& o, const char* key, const std::string& path,
                                       int64_t want) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array())
    return invalid_argument("must be an array of numbers", path + key);
  std::vector<float> out;
  for (const auto& v : *it) {
    if (!v.is_number()) return invalid_argument("must be an array of numbers", path + key);
    const double d = v.get<double>();
    if (!(d > 0.0 && d < 1e30)) return invalid_argument("factors must be in (0, 1e30)", path + key);
    out.push_back(static_cast<float>(d));
  }
  if (static_cast<int64_t>(out.size()) != want)
    return invalid_argument("has " + std::to_string(out.size()) +
                                " entries, expected rotary_dim/2 = " + std::to_string(want),
                            path + key);
  return out;
}

status parse_rope(const json& j, model_config* c) {
  rope_config& r = c->rope;
  const json* obj = nullptr;
  std::string path;
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return invalid_argument("must be an object", "rope_parameters");
    obj = &*it;
    path = "rope_parameters.";
  } else if (auto it2 = j.find("rope_scaling"); it2 != j.end() && !it2->is_null()) {
    if (!it2->is_object()) return invalid_argument("must be an object", "rope_scaling");
    obj = &*it2;
    path = "rope_scaling.";
  }
  static const json k_empty = json::object();
  const json& o = obj ? *obj : k_empty;
  KAITO_ASSIGN_OR_RETURN(double top_theta, get_num(j, "rope_theta", "", 10000.0));
  KAITO_ASSIGN_OR_RETURN(r.theta, get_num(o, "rope_theta", path, top_theta));
  if (!(r.theta > 0)) return invalid_argument("must be positive", path + "rope_theta");
  KAITO_ASSIGN_OR_RETURN(double top_prf, get_num(j, "partial_rotary_factor", "", 1.0));
  KAITO_ASSIGN_OR_RETURN(r.partial_rotary_factor,
                         get_num(o, "partial_rotary_factor", path, top_prf));
  if (!(r.partial_rotary_factor > 0 && r.partial_rotary_factor <= 1))
    return invalid_argument("must be in (0, 1]", path + "partial_rotary_factor");
  r.rotary_dim = static_cast<int64_t>(static_cast<double>(c->head_dim) * r.partial_rotary_factor);
  if (r.rotary_dim < 2 || r.rotary_dim % 2 != 0)
    return invalid_argument("gives an odd or zero rotary dimension",
                            path + "partial_rotary_factor");

  std::string type = "default";
  for (const char* k : {"rope_type", "type"}) {
    if (auto it = o.find(k); it != o.end() && !it->is_null()) {
      if (!it->is_string()) return invalid_argument("must be a string", path + k);
      type = it->get<std::string>();
      break;
    }
  }
  KAITO_ASSIGN_OR_RETURN(int64_t top_orig, get_int(j, "original_max_position_embeddings", "", 0));
  KAITO_ASSIGN_OR_RETURN(r.original_max_position_embeddings,
                         get_int(o, "original_max_position_embeddings", path, top_orig));
  if (type == "default") {
    r.kind = rope_type::standard;
  } else if (type == "linear") {
    r.kind = rope_type::linear;
    KAITO_ASSIGN_OR_RETURN(r.factor, get_num(o, "factor", path, std::nullopt));
    if (!(r.factor > 0)) return invalid_argument("must be positive", path + "factor");
  } else if (type == "longrope" || type == "su") {
    r.kind = rope_type::longrope;
    const int64_t half = r.rotary_dim / 2;
    KAITO_ASSIGN_OR_RETURN(r.short_factor, get_factors(o, "short_factor", path, half));
    KAITO_ASSIGN_OR_RETURN(r.long_factor, get_factors(o, "long_factor", path, half));
    // transformers _compute_longrope_parameters: Phi-3 derives the factor from the two lengths.
    double factor = 1.0;
    int64_t orig = r.original_max_position_embeddings;
    if (orig > 0) {
      factor = static_cast<double>(c->max_position_embeddings) / static_cast<double>(orig);
    } else {
      KAITO_ASSIGN_OR_RETURN(factor, get_num(o, "factor", path, 1.0));
      orig = c->max_position_embeddings;
      r.original_max_position_embeddings = orig;
    }
    if (orig <= 1)
      return invalid_argument("must be > 1", path + "original_max_position_embeddings");
    r.factor = factor;
    double dflt = factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(double(orig)));
    KAITO_ASSIGN_OR_RETURN(r.attention_factor, get_num(o, "attention_factor", path, dflt));
  } else if (type == "llama3") {
    r.kind = rope_type::llama3;
    KAITO_ASSIGN_OR_RETURN(r.factor, get_num(o, "factor", path, std::nullopt));
    KAITO_ASSIGN_OR_RETURN(r.low_freq_factor, get_num(o, "low_freq_factor", path, std::nullopt));
    KAITO_ASSIGN_OR_RETURN(r.high_freq_factor, get_num(o, "high_freq_factor", path, std::nullopt));
    if (r.original_max_position_embeddings <= 0)
      return invalid_argument("required for llama3 rope",
                              path + "original_max_position_embeddings");
    if (!(r.factor > 0) || !(r.high_freq_factor > r.low_freq_factor) || !(r.low_freq_factor > 0))
      return invalid_argument("need factor > 0 and high_freq_factor > low_freq_factor > 0",
                              path + "high_freq_factor");
  } else {
    return invalid_argument("unsupported rope type '" + type + "'", path + "rope_type");
  }
  return {};
}

status parse_windows(const json& j, model_config* c) {
  KAITO_ASSIGN_OR_RETURN(int64_t window, get_int(j, "sliding_window", "", 0));
  if (window < 0) return invalid_argument("must be >= 0", "sliding_window");
  if (c->arch == model_arch::qwen2) {
    KAITO_ASSIGN_OR_RETURN(bool use, get_bool(j, "use_sliding_window", false));
    if (!use) window = 0;
  }
  c->layer_window.assign(static_cast<size_t>(c->num_layers), window);
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || static_cast<int64_t>(it->size()) != c->num_layers)
      return invalid_argument("must be an array with one entry per layer", "layer_types");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      std::string p = "layer_types[" + std::to_string(i) + "]";
      if (!t.is_string()) return invalid_argument("must be a string", p);
      if (t == "full_attention")
        c->layer_window[i] = 0;
      else if (t != "sliding_attention")
        return invalid_argument("unknown layer type", p);
      else if (window == 0)
        return invalid_argument("sliding layer without sliding_window", p);
    }
  } else if (c->arch == model_arch::qwen2 && window > 0) {
    KAITO_ASSIGN_OR_RETURN(int64_t mwl, get_int(j, "max_window_layers", "", c->num_layers));
    for (int64_t i = 0; i < c->num_layers && i < mwl; ++i) c->layer_window[i] = 0;
  }
  return {};
}

}  // namespace

const char* model_arch_name(model_arch a) {
  switch (a) {
    case model_arch::phi3:
      return "phi3";
    case model_arch::llama:
      return "llama";
    case model_arch::mistral:
      return "mistral";
    case model_arch::qwen2:
      return "qwen2";
  }
  return "?";
}

result<model_config> parse_model_config(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("config.json is not valid JSON");
  if (!j.is_object()) return invalid_argument("config.json is not a JSON object");
  model_config c;
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string())
    return invalid_argument("missing or not a string", "model_type");
  const std::string type = mt->get<std::string>();
  if (type == "phi3")
    c.arch = model_arch::phi3;
  else if (type == "llama")
    c.arch = model_arch::llama;
  else if (type == "mistral")
    c.arch = model_arch::mistral;
  else if (type == "qwen2")
    c.arch = model_arch::qwen2;
  else
    return invalid_argument("unsupported model_type '" + type + "'", "model_type");
  c.fused_qkv = c.arch == model_arch::phi3;

  KAITO_ASSIGN_OR_RETURN(c.vocab_size, get_int(j, "vocab_size", "", std::nullopt));
  KAITO_ASSIGN_OR_RETURN(c.hidden_size, get_int(j, "hidden_size", "", std::nullopt));
  KAITO_ASSIGN_OR_RETURN(c.intermediate_size, get_int(j, "intermediate_size", "", std::nullopt));
  KAITO_ASSIGN_OR_RETURN(c.num_layers, get_int(j, "num_hidden_layers", "", std::nullopt));
  KAITO_ASSIGN_OR_RETURN(c.num_heads, get_int(j, "num_attention_heads", "", std::nullopt));
  KAITO_ASSIGN_OR_RETURN(c.num_kv_heads, get_int(j, "num_key_value_heads", "", c.num_heads));
  KAITO_ASSIGN_OR_RETURN(c.max_position_embeddings,
                         get_int(j, "max_position_embeddings", "", 4096));
  KAITO_ASSIGN_OR_RETURN(c.rms_norm_eps, get_num(j, "rms_norm_eps", "", 1e-6));
  const std::pair<const char*, int64_t> sizes[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"max_position_embeddings", c.max_position_embeddings}};
  for (const auto& [k, v] : sizes)
    if (v <= 0 || v > (int64_t{1} << 31)) return invalid_argument("must be in [1, 2^31]", k);
  if (c.num_heads % c.num_kv_heads != 0)
    return invalid_argument("must divide num_attention_heads", "num_key_value_heads");
  if (!(c.rms_norm_eps > 0)) return invalid_argument("must be positive", "rms_norm_eps");
  int64_t dflt_hd = c.hidden_size / c.num_heads;
  KAITO_ASSIGN_OR_RETURN(c.head_dim, get_int(j, "head_dim", "", dflt_hd));
  if (c.head_dim <= 0 || c.head_dim > 4096)
    return invalid_argument("must be in [1, 4096]", "head_dim");

  KAITO_ASSIGN_OR_RETURN(c.tie_word_embeddings, get_bool(j, "tie_word_embeddings", false));
  KAITO_ASSIGN_OR_RETURN(bool attn_bias, get_bool(j, "attention_bias", false));
  KAITO_ASSIGN_OR_RETURN(bool mlp_bias, get_bool(j, "mlp_bias", false));
  if (mlp_bias) return invalid_argument("mlp_bias=true is not supported", "mlp_bias");
  c.qkv_bias = c.arch == model_arch::qwen2 || (attn_bias && c.arch != model_arch::phi3);
  c.o_bias = attn_bias && (c.arch == model_arch::llama || c.arch == model_arch::mistral);
  if (auto it = j.find("hidden_act"); it != j.end() && !it->is_null() && *it != "silu")
    return invalid_argument("only silu is supported", "hidden_act");

  KAITO_TRY(parse_rope(j, &c));
  KAITO_TRY(parse_windows(j, &c));

  KAITO_ASSIGN_OR_RETURN(c.bos_token_id, get_int(j, "bos_token_id", "", -1));
  KAITO_ASSIGN_OR_RETURN(c.pad_token_id, get_int(j, "pad_token_id", "", -1));
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.eos_token_ids.push_back(it->get<int64_t>());
    } else if (it->is_array()) {
      for (const auto& v : *it) {
        if (!v.is_number_integer()) return invalid_argument("must hold integers", "eos_token_id");
        c.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else {
      return invalid_argument("must be an integer or an array", "eos_token_id");
    }
  }
  return c;
}

result<model_config> load_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream f(path);
  if (!f) return io_error("cannot read", path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = parse_model_config(ss.str());
  if (!c.ok()) return c.error().with_context(path);
  return c;
}

}  // namespace kaito::engine
