// model_chat: the chat side of a Hugging Face model folder, read one way for training
// (tune_job) and serving (chat_service): tokenizer.json, tokenizer_config.json (bos_token,
// eos_token, chat_template) and the template compiled.
//
// chat_template_path (a .jinja file, e.g. presets/chat_templates/phi-3.jinja) stands in for the
// folder's template, also when tokenizer_config.json has none or an unusable one (bos / eos still
// come from that file) or is missing altogether. Without one, a base model whose
// tokenizer_config.json has no chat_template (falcon-7b, mistral-7b) gets kNoChatTemplate, which
// renders to a failed_precondition saying so: what needs no template (text and prompt-completion
// training data, plain completions) works, and chats are refused with the reason.
// Errors name the file and field ("tokenizer_config.json: chat_template"); without
// tokenizer_config.json and without a template file: not_found saying to give --chat-template.
// Thread-safety: pure function.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "engine/chat_template.h"
#include "engine/tokenizer.h"

namespace kaito::engine {

// The stand-in template for a model without one (raise_exception with the reason).
extern const char* const kNoChatTemplate;

struct model_chat {
  std::unique_ptr<tokenizer> tok;
  hf_tokenizer_config config;
  std::unique_ptr<chat_template> tmpl;
};

// fallback_template: template text for a folder whose tokenizer_config.json has no chat_template
// (a preset's, presets/chat_templates), used instead of kNoChatTemplate; a chat_template_path
// still wins over it.
result<model_chat> load_model_chat(const std::string& model_dir,
                                   const std::string& chat_template_path,
                                   const std::string& fallback_template = "");

}  // namespace kaito::engine
