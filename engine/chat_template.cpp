// Chat template rendering (see chat_template.h).
#include "engine/chat_template.h"

#include <fstream>
#include <sstream>

#include "engine/jinja_parser.h"
#include "engine/unicode.h"

namespace kaito::engine {
namespace {

// True when `j` nests deeper than `limit` arrays/objects (checked before converting).
bool too_deep(const nlohmann::ordered_json& j, int limit) {
  if (!j.is_structured()) return false;
  if (limit <= 0) return true;
  for (const auto& e : j)
    if (too_deep(e, limit - 1)) return true;
  return false;
}

}  // namespace

result<chat_template> chat_template::compile(std::string_view source) {
  // Python (jinja2) only sees valid text: invalid UTF-8 bytes become U+FFFD first.
  auto text = std::make_shared<const std::string>(utf8_sanitize(source));
  KAITO_ASSIGN_OR_RETURN(auto ast, jinja_parse(*text));
  chat_template t;
  t.ast_ = std::move(ast);
  t.source_ = std::move(text);
  return t;
}

result<chat_template> chat_template::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read chat template", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto t = compile(ss.str());
  if (!t.ok()) return t.error().with_context(path);
  return t;
}

result<std::string> chat_template::render(const chat_template_inputs& in,
                                          const jinja_limits& limits) const {
  if (!in.messages.is_array()) return invalid_argument("expected an array", "messages");
  if (!in.extra.is_object()) return invalid_argument("expected an object", "extra");
  if (too_deep(in.messages, 64)) return invalid_argument("nested too deeply", "messages");
  if (too_deep(in.extra, 64)) return invalid_argument("nested too deeply", "extra");
  jinja_dict vars;
  vars.set("messages", jinja_value::from_json(in.messages));
  vars.set("tools", jinja_value::none());
  vars.set("documents", jinja_value::none());
  vars.set("add_generation_prompt", jinja_value::boolean(in.add_generation_prompt));
  vars.set("bos_token", jinja_value::string(in.bos_token));
  vars.set("eos_token", jinja_value::string(in.eos_token));
  for (auto it = in.extra.begin(); it != in.extra.end(); ++it)
    vars.set(it.key(), jinja_value::from_json(it.value()));
  return jinja_render(*ast_, vars, limits);
}

namespace {

result<std::string> special_token(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return invalid_argument("expected a string or {\"content\": string}", key);
}

}  // namespace

result<hf_tokenizer_config> parse_tokenizer_config(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("tokenizer_config.json is not a JSON object");
  hf_tokenizer_config cfg;
  auto t = j.find("chat_template");
  if (t == j.end() || t->is_null()) return invalid_argument("missing", "chat_template");
  if (t->is_string()) {
    cfg.chat_template = t->get<std::string>();
  } else if (t->is_array()) {
    for (size_t i = 0; i < t->size(); ++i) {
      const auto& e = (*t)[i];
      const std::string where = "chat_template[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("name") || !e.contains("template") ||
          !e["name"].is_string() || !e["template"].is_string())
        return invalid_argument("expected {name, template}", where);
      if (e["name"] == "default") cfg.chat_template = e["template"].get<std::string>();
    }
    if (cfg.chat_template.empty())
      return invalid_argument("no template named \"default\"", "chat_template");
  } else {
    return invalid_argument("expected a string or a list", "chat_template");
  }
  KAITO_ASSIGN_OR_RETURN(cfg.bos_token, special_token(j, "bos_token"));
  KAITO_ASSIGN_OR_RETURN(cfg.eos_token, special_token(j, "eos_token"));
  return cfg;
}

result<std::string> render_chat_template(std::string_view source, const chat_template_inputs& in) {
  KAITO_ASSIGN_OR_RETURN(chat_template t, chat_template::compile(source));
  return t.render(in);
}

}  // namespace kaito::engine
