// chat_template_fuzz: Jinja chat template parsing and rendering on arbitrary bytes (the whole
// input is the template), against a fixed conversation with tools. Must never crash or hang:
// hostile templates end in a status (syntax error, undefined, resource_exhausted). The same
// bytes also go through parse_tokenizer_config.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  (void)kaito::engine::parse_tokenizer_config(source);  // the tokenizer_config.json reader
  auto t = kaito::engine::chat_template::compile(source);
  if (!t.ok()) return 0;
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi 日本 🚀"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "abc123XYZ", "type": "function",
      "function": {"name": "f", "arguments": {"x": 1.5, "y": [true, null]}}}]},
    {"role": "tool", "tool_call_id": "abc123XYZ", "content": "42"},
    {"role": "user", "content": "  bye  "}])");
  kaito::engine::chat_template_inputs in;
  in.messages = messages;
  in.add_generation_prompt = (size & 1) != 0;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.extra["tools"] = nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
  kaito::engine::jinja_limits limits;
  limits.max_steps = 200'000;
  limits.max_output_bytes = 1 << 20;
  limits.max_value_size = 1 << 20;
  (void)t->render(in, limits);
  return 0;
}
