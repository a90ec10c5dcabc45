// chat_template: renders Hugging Face chat templates (the Jinja `chat_template` of a model's
// tokenizer_config.json, or our presets/chat_templates/*.jinja) the way transformers'
// apply_chat_template does: jinja2 with trim_blocks and lstrip_blocks, the variables `messages`,
// `tools` and `documents` (none unless given), `add_generation_prompt`, `bos_token`, `eos_token`
// and any extra variables, and the helpers raise_exception, strftime_now and an ensure_ascii=False
// `tojson`.
//
// Thread-safety: a chat_template is immutable after compile(); render() may run concurrently.
// Copyable (shares the parsed tree).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/jinja_ast.h"
#include "engine/jinja_interpreter.h"

namespace kaito::engine {

struct chat_template_inputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content, ...}]
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  // More variables (tools, documents, date_string, ...); an object, keys override the above.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class chat_template {
 public:
  // Parses `source` (invalid UTF-8 is replaced by U+FFFD first). invalid_argument with
  // "line:column" on a syntax error.
  static result<chat_template> compile(std::string_view source);
  // Reads and parses a .jinja file; io_error when it cannot be read.
  static result<chat_template> from_file(const std::string& path);

  // Renders the conversation. invalid_argument (undefined access, type error, bad input shape;
  // `where` is the template line:column), failed_precondition with the template's own message
  // for raise_exception (e.g. roles not alternating), resource_exhausted past `limits`.
  result<std::string> render(const chat_template_inputs& in, const jinja_limits& limits = {}) const;
  // The text compiled (after the UTF-8 repair).
  const std::string& source() const {
    static const std::string none;
    return source_ ? *source_ : none;
  }

 private:
  std::shared_ptr<const jinja_template_ast> ast_;
  std::shared_ptr<const std::string> source_;
};

// The chat-template fields of an HF tokenizer_config.json: `chat_template` (a string, or a list
// of {name, template} from which "default" is taken) and bos/eos tokens (strings or
// {"content": ...} objects; empty when absent or null).
struct hf_tokenizer_config {
  std::string chat_template;
  std::string bos_token;
  std::string eos_token;
};
// invalid_argument naming the field for malformed JSON or a missing/ill-typed chat_template.
result<hf_tokenizer_config> parse_tokenizer_config(std::string_view json_text);

// One-shot compile + render.
result<std::string> render_chat_template(std::string_view source, const chat_template_inputs& in);

}  // namespace kaito::engine
