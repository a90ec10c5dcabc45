// model_chat; see model_chat.h.
#include "engine/model_chat.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "engine/file_text.h"

namespace kaito::engine {

const char* const kNoChatTemplate =
    "{{ raise_exception('this model has no chat template (tokenizer_config.json has no "
    "chat_template): give one with --chat-template, or use text or prompt-completion data and "
    "plain completions') }}";

result<model_chat> load_model_chat(const std::string& model_dir,
                                   const std::string& chat_template_path,
                                   const std::string& fallback_template) {
  model_chat out;
  const std::string tok_path = model_dir + "/tokenizer.json";
  auto tok = tokenizer::from_file(tok_path);
  if (!tok.ok()) return in_file(tok.error(), tok_path);
  out.tok = std::make_unique<tokenizer>(std::move(*tok));
  const std::string cfg_path = model_dir + "/tokenizer_config.json";
  auto cfg_text = read_text(cfg_path);
  if (cfg_text.ok()) {
    auto parsed = parse_tokenizer_config(*cfg_text);
    // A template file stands in for a missing or unusable chat_template; bos / eos still come
    // from this file. A base model with no chat_template at all gets kNoChatTemplate: text and
    // prompt-completion data and plain completions never render it, chats fail saying why.
    const bool missing = !parsed.ok() && parsed.error().where() == "chat_template" &&
                         parsed.error().message() == "missing";
    if (!parsed.ok() && parsed.error().where() == "chat_template" &&
        (!chat_template_path.empty() || missing)) {
      auto js = nlohmann::json::parse(*cfg_text, nullptr, /*allow_exceptions=*/false);
      if (js.is_object()) {
        js["chat_template"] = !chat_template_path.empty() ? ""
                              : fallback_template.empty() ? kNoChatTemplate
                                                          : fallback_template.c_str();
        parsed = parse_tokenizer_config(js.dump());
      }
    }
    if (!parsed.ok()) return in_file(parsed.error(), cfg_path);
    out.config = std::move(parsed).value();
  } else if (chat_template_path.empty()) {
    return status(status_code::not_found,
                  "no tokenizer_config.json (its chat_template and bos/eos tokens); give "
                  "--chat-template FILE for the template",
                  cfg_path);
  }
  result<chat_template> tmpl = chat_template_path.empty()
                                   ? chat_template::compile(out.config.chat_template)
                                   : chat_template::from_file(chat_template_path);
  if (!tmpl.ok())
    return in_file(tmpl.error(),
                   chat_template_path.empty() ? cfg_path + ": chat_template" : chat_template_path);
  out.tmpl = std::make_unique<chat_template>(std::move(*tmpl));
  return out;
}

}  // namespace kaito::engine
