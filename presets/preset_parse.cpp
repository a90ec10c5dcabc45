// parse_preset: presets/models/<name>.yaml -> preset (field reads here, cross-field rules in
// preset_validate.cpp).
#include <cstdlib>

#include "presets/preset.h"
#include "presets/preset_validate.h"
#include "presets/yaml_reader.h"

namespace kaito::presets {

namespace {

constexpr int64_t kAny = INT64_MIN;

void read_rope(read_context& cx, const YAML::Node& node, const std::string& path, rope_scaling& r) {
  map_reader m(cx, node, path);
  m.text("type", r.type, presence::required);
  m.number_list("short_factor", r.short_factor, presence::optional);
  m.number_list("long_factor", r.long_factor, presence::optional);
  m.number("factor", r.factor, presence::optional, true);
  m.number("low_freq_factor", r.low_freq_factor, presence::optional, true);
  m.number("high_freq_factor", r.high_freq_factor, presence::optional, true);
  m.integer("original_max_position_embeddings", r.original_max_position_embeddings,
            presence::optional, 1);
  m.finish();
}

void read_architecture(read_context& cx, const YAML::Node& node, architecture& a) {
  map_reader m(cx, node, "architecture");
  m.text("model_type", a.model_type, presence::required);
  m.integer("hidden_size", a.hidden_size, presence::required, 1);
  m.integer("intermediate_size", a.intermediate_size, presence::required, 1);
  m.integer("num_hidden_layers", a.num_hidden_layers, presence::required, 1);
  m.integer("num_attention_heads", a.num_attention_heads, presence::required, 1);
  m.integer("num_key_value_heads", a.num_key_value_heads, presence::required, 1);
  m.integer("head_dim", a.head_dim, presence::optional, 1);
  m.integer("vocab_size", a.vocab_size, presence::required, 1);
  m.integer("max_position_embeddings", a.max_position_embeddings, presence::required, 1);
  m.integer("original_max_position_embeddings", a.original_max_position_embeddings,
            presence::optional, 1);
  m.number("rope_theta", a.rope_theta, presence::required, true);
  YAML::Node rope = m.child("rope_scaling", presence::optional);
  if (present(rope)) read_rope(cx, rope, m.child_path("rope_scaling"), a.rope);
  m.number("partial_rotary_factor", a.partial_rotary_factor, presence::optional, true);
  m.number("rms_norm_eps", a.rms_norm_eps, presence::optional, true);
  m.number("layer_norm_epsilon", a.layer_norm_epsilon, presence::optional, true);
  m.integer("sliding_window", a.sliding_window, presence::optional, 1);
  m.boolean("use_sliding_window", a.use_sliding_window, presence::optional);
  m.boolean("attention_bias", a.attention_bias, presence::optional);
  m.boolean("parallel_attn", a.parallel_attn, presence::optional);
  m.boolean("new_decoder_architecture", a.new_decoder_architecture, presence::optional);
  m.boolean("tie_word_embeddings", a.tie_word_embeddings, presence::required);
  m.integer("bos_token_id", a.bos_token_id, presence::required, 0);
  m.integer_list("eos_token_id", a.eos_token_ids, presence::required);
  m.finish();
  if (cx.ok() && a.head_dim == 0 && a.hidden_size % a.num_attention_heads == 0)
    a.head_dim = a.hidden_size / a.num_attention_heads;
}

void read_needs(read_context& cx, const YAML::Node& node, const std::string& path,
                resource_needs& r, bool* supported) {
  map_reader m(cx, node, path);
  if (supported) m.boolean("supported", *supported, presence::required);
  // Needs are required for inference, and for tuning when it is supported.
  presence p = (!supported || *supported) ? presence::required : presence::optional;
  m.quantity("disk", r.disk, p);
  int64_t gpus = r.gpu_count;
  m.integer("gpu_count", gpus, p, 0);
  if (gpus > 1024) m.fail("gpu_count", "must be at most 1024");
  r.gpu_count = static_cast<int>(gpus);
  m.quantity("total_gpu_memory", r.total_gpu_memory, p);
  m.quantity("per_gpu_memory", r.per_gpu_memory, presence::optional);
  m.finish();
}

void read_weights(read_context& cx, const YAML::Node& node, weights_source& w) {
  map_reader m(cx, node, "weights");
  m.text("hf_repo", w.hf_repo, presence::optional);
  m.text("revision", w.revision, presence::optional);
  m.text("local_dir", w.local_dir, presence::optional);
  m.text("dtype", w.dtype, presence::required);
  m.finish();
}

}  // namespace

result<preset> parse_preset(std::string_view yaml_text, const std::string& file) {
  read_context cx{file, status()};
  YAML::Node doc = parse_yaml_document(yaml_text, cx);
  preset p;
  p.source_file = file;
  if (cx.ok()) {
    map_reader m(cx, doc, "");
    m.text("name", p.name, presence::required);
    m.text("family", p.family, presence::required);
    m.text("description", p.description, presence::optional);
    read_weights(cx, m.child("weights", presence::required), p.weights);
    m.integer("parameters", p.parameters, presence::required, 1);
    read_architecture(cx, m.child("architecture", presence::required), p.arch);
    read_needs(cx, m.child("inference", presence::required), "inference", p.inference, nullptr);
    read_needs(cx, m.child("tuning", presence::required), "tuning", p.tuning, &p.tunable);
    m.boolean("cpu_ok", p.cpu_ok, presence::optional);
    m.boolean("deprecated", p.deprecated, presence::required);
    m.boolean("download_at_runtime", p.download_at_runtime, presence::required);
    m.boolean("supports_transformers", p.supports_transformers, presence::optional);
    m.boolean("vllm_supports_lora", p.vllm_supports_lora, presence::optional);
    m.integer("model_token_limit", p.model_token_limit, presence::required, 1);
    m.text("chat_template", p.chat_template, presence::required);
    m.text("tool_call_parser", p.tool_call_parser, presence::optional);
    m.text_list("stop_tokens", p.stop_tokens, presence::required);
    m.integer_list("stop_token_ids", p.stop_token_ids, presence::required);
    m.text_list("lora_target_modules", p.lora_target_modules, presence::required);
    m.finish();
    if (cx.ok()) validate_preset(cx, doc, p);
  }
  if (!cx.ok()) return cx.error;
  p.facts = derive_facts(p);
  return p;
}

std::string shared_dir() {
  if (const char* env = std::getenv("KAITO_SHARED_DIR"); env && *env) return env;
  return KAITO_SHARED_DIR;
}

}  // namespace kaito::presets
