#include "presets/preset_validate.h"

#include <algorithm>
#include <utility>

#include "protocol/api/tool_call_parser.h"

namespace kaito::presets {

const std::vector<std::string>& known_families() {
  static const std::vector<std::string> k = {"phi3", "phi4", "llama", "mistral", "qwen2", "falcon"};
  return k;
}

const std::vector<std::string>& known_chat_templates() {
  static const std::vector<std::string> k = {"phi-3",  "phi-4",   "phi-4-mini", "llama-3",
                                             "chatml", "mistral", "falcon",     "none"};
  return k;
}

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Records `msg` at the field `path` ("a.b.c") of doc, at the deepest part of the path that exists.
void fail_at(read_context& cx, const YAML::Node& doc, const std::string& path,
             const std::string& msg) {
  YAML::Node n = doc;
  YAML::Mark mark = doc.Mark();
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!n.IsMap()) break;
    YAML::Node next = std::as_const(n)[key];
    if (!next.IsDefined()) break;
    n = next;
    mark = n.Mark();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  cx.fail(mark, path, msg);
}

bool is_dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return s.front() != '-' && s.back() != '-' && s.front() != '.' && s.back() != '.';
}

void validate_needs(read_context& cx, const YAML::Node& doc, const std::string& path,
                    const resource_needs& r, bool cpu_ok) {
  if (r.disk <= 0) return fail_at(cx, doc, path + ".disk", "must be positive");
  if (cpu_ok) return;
  if (r.gpu_count < 1)
    return fail_at(cx, doc, path + ".gpu_count", "must be at least 1 (or set cpu_ok)");
  if (r.total_gpu_memory <= 0)
    return fail_at(cx, doc, path + ".total_gpu_memory", "must be positive");
}

void validate_rope(read_context& cx, const YAML::Node& doc, const architecture& a) {
  const rope_scaling& r = a.rope;
  const std::string base = "architecture.rope_scaling";
  if (r.type.empty()) return;
  if (r.type == "longrope") {
    if (a.original_max_position_embeddings <= 0)
      return fail_at(cx, doc, "architecture.original_max_position_embeddings",
                     "longrope needs original_max_position_embeddings");
    if (r.short_factor.empty() != r.long_factor.empty())
      return fail_at(cx, doc, base, "longrope needs both short_factor and long_factor, or neither");
    const auto rotary =
        static_cast<size_t>(static_cast<double>(a.head_dim) * a.partial_rotary_factor);
    for (const char* key : {"short_factor", "long_factor"}) {
      const auto& v = std::string(key) == "short_factor" ? r.short_factor : r.long_factor;
      if (!v.empty() && v.size() * 2 != rotary)
        return fail_at(cx, doc, base + "." + key,
                       "needs head_dim*partial_rotary_factor/2 = " + std::to_string(rotary / 2) +
                           " values, got " + std::to_string(v.size()));
      for (double f : v)
        if (!(f > 0)) return fail_at(cx, doc, base + "." + key, "factors must be positive");
    }
  } else if (r.type == "llama3") {
    if (r.factor <= 0 || r.low_freq_factor <= 0 || r.high_freq_factor <= 0 ||
        r.original_max_position_embeddings <= 0)
      return fail_at(cx, doc, base,
                     "llama3 needs factor, low_freq_factor, high_freq_factor and "
                     "original_max_position_embeddings");
  } else {
    return fail_at(cx, doc, base + ".type",
                   "unknown rope scaling \"" + r.type + "\" (longrope, llama3)");
  }
}

void validate_architecture(read_context& cx, const YAML::Node& doc, const architecture& a) {
  if (a.num_attention_heads % a.num_key_value_heads != 0)
    return fail_at(
        cx, doc, "architecture.num_key_value_heads",
        "must divide num_attention_heads (" + std::to_string(a.num_attention_heads) + ")");
  if (a.head_dim == 0)
    return fail_at(cx, doc, "architecture.hidden_size",
                   "not divisible by num_attention_heads: give head_dim");
  if ((a.rms_norm_eps > 0) == (a.layer_norm_epsilon > 0))
    return fail_at(cx, doc, "architecture",
                   "exactly one of rms_norm_eps and layer_norm_epsilon is required");
  if (a.partial_rotary_factor > 1)
    return fail_at(cx, doc, "architecture.partial_rotary_factor", "must be in (0, 1]");
  if (a.eos_token_ids.empty())
    return fail_at(cx, doc, "architecture.eos_token_id", "must not be empty");
  for (int64_t id : a.eos_token_ids)
    if (id < 0 || id >= a.vocab_size)
      return fail_at(cx, doc, "architecture.eos_token_id",
                     "token id " + std::to_string(id) + " is outside the vocabulary");
  if (a.bos_token_id >= a.vocab_size)
    return fail_at(cx, doc, "architecture.bos_token_id", "outside the vocabulary");
  validate_rope(cx, doc, a);
}

}  // namespace

void validate_preset(read_context& cx, const YAML::Node& doc, const preset& p) {
  if (!is_dns1123_label(p.name))
    return fail_at(cx, doc, "name", "\"" + p.name + "\" is not a lowercase DNS-1123 name");
  if (!contains(known_families(), p.family))
    return fail_at(cx, doc, "family",
                   "unknown family \"" + p.family + "\" (known: " + joined(known_families()) + ")");
  if (!contains(known_chat_templates(), p.chat_template))
    return fail_at(cx, doc, "chat_template",
                   "unknown chat template \"" + p.chat_template +
                       "\" (known: " + joined(known_chat_templates()) + ")");
  if (!p.tool_call_parser.empty()) {
    auto parser = api::tool_call_format_named(p.tool_call_parser, "tool_call_parser");
    if (!parser.ok()) return fail_at(cx, doc, "tool_call_parser", parser.error().message());
  }
  if (p.parameters > int64_t{1} << 50)
    return fail_at(cx, doc, "parameters", "is implausibly large (more than 2^50)");
  const weights_source& w = p.weights;
  const bool hf = !w.hf_repo.empty(), local = !w.local_dir.empty();
  if (hf == local)
    return fail_at(cx, doc, "weights", "exactly one of hf_repo and local_dir is required");
  if (hf && w.revision.empty()) return fail_at(cx, doc, "weights", "hf_repo needs a revision");
  if (local && (w.local_dir.front() == '/' || w.local_dir.find("..") != std::string::npos))
    return fail_at(cx, doc, "weights.local_dir",
                   "must be relative to the shared dir, without \"..\"");
  if (w.dtype != "bfloat16" && w.dtype != "float16" && w.dtype != "float32")
    return fail_at(cx, doc, "weights.dtype", "must be bfloat16, float16 or float32");
  validate_architecture(cx, doc, p.arch);
  if (!cx.ok()) return;
  validate_needs(cx, doc, "inference", p.inference, p.cpu_ok);
  if (!cx.ok()) return;
  if (p.tunable) validate_needs(cx, doc, "tuning", p.tuning, p.cpu_ok);
  if (!cx.ok()) return;
  if (p.model_token_limit > p.arch.max_position_embeddings)
    return fail_at(cx, doc, "model_token_limit", "exceeds architecture.max_position_embeddings");
  if (p.lora_target_modules.empty())
    return fail_at(cx, doc, "lora_target_modules", "must name at least one module");
  for (const auto& m : p.lora_target_modules)
    if (m.empty()) return fail_at(cx, doc, "lora_target_modules", "module names must not be empty");
  for (int64_t id : p.stop_token_ids)
    if (id < 0 || id >= p.arch.vocab_size)
      return fail_at(cx, doc, "stop_token_ids",
                     "token id " + std::to_string(id) + " is outside the vocabulary");
}

int64_t preset::weights_bytes() const {
  const int64_t elem = weights.dtype == "float32" ? 4 : 2;
  return parameters * elem;
}

api::preset_facts derive_facts(const preset& p) {
  api::preset_facts f;
  f.name = p.name;
  f.family = p.family;
  f.deprecated = p.deprecated;
  f.supports_inference = true;
  f.supports_tuning = p.tunable;
  f.download_at_runtime = p.download_at_runtime;
  f.supports_transformers = p.supports_transformers;
  f.vllm_supports_lora = p.vllm_supports_lora;
  f.inference_gpu_count = p.inference.gpu_count;
  f.inference_total_gpu_memory = p.inference.total_gpu_memory;
  f.inference_per_gpu_memory = p.inference.per_gpu_memory;
  f.tuning_total_gpu_memory = p.tuning.total_gpu_memory;
  f.tuning_per_gpu_memory = p.tuning.per_gpu_memory;
  f.total_safetensor_file_size = p.weights_bytes();
  f.model_token_limit = p.model_token_limit;
  return f;
}

}  // namespace kaito::presets
