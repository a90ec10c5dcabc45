// responses_api; see responses_api.h.
#include "protocol/api/responses_api.h"

#include <utility>

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

namespace {

using chat_fields::dump_utf8;
using chat_fields::field;
using chat_fields::ojson;
using chat_fields::read_bool;
using chat_fields::read_int;
using chat_fields::read_real;
using chat_fields::unimplemented;
using chat_fields::wrong;

// One input item -> {role, content} for parse_messages; content parts become "text" parts.
result<ojson> message_of(const ojson& item, const std::string& at) {
  if (!item.is_object()) return wrong(item, at, "a message item {role, content}");
  if (const ojson* type = field(item, "type")) {
    if (!type->is_string()) return wrong(*type, at + ".type", "\"message\"");
    if (type->get_ref<const std::string&>() != "message")
      return unimplemented("input items of type \"" + type->get<std::string>() +
                               "\" are not implemented; only messages",
                           at + ".type");
  }
  ojson m = ojson::object();
  if (const ojson* role = field(item, "role")) m["role"] = *role;
  const ojson* content = field(item, "content");
  if (!content || content->is_string()) {
    if (content) m["content"] = *content;
    return m;
  }
  if (!content->is_array()) return wrong(*content, at + ".content", "a string or an array");
  ojson parts = ojson::array();
  for (size_t i = 0; i < content->size(); ++i) {
    const ojson& part = (*content)[i];
    const std::string pat = at + ".content[" + std::to_string(i) + "]";
    const ojson* type = part.is_object() ? field(part, "type") : nullptr;
    if (!type || !type->is_string()) return wrong(part, pat, "a part {type, text}");
    const std::string& t = type->get_ref<const std::string&>();
    if (t != "input_text" && t != "output_text" && t != "text")
      return unimplemented("content parts of type \"" + t + "\" are not implemented; only text",
                           pat + ".type");
    const ojson* text = field(part, "text");
    if (!text || !text->is_string())
      return wrong(text ? *text : ojson(), pat + ".text", "a string");
    parts.push_back({{"type", "text"}, {"text", *text}});
  }
  m["content"] = std::move(parts);
  return m;
}

// Fields that would change the answer and that we do not implement.
status check_unimplemented(const ojson& j) {
  if (field(j, "previous_response_id"))
    return unimplemented(
        "previous_response_id is not implemented: nothing is stored; send the conversation as "
        "input",
        "previous_response_id");
  for (const char* k : {"tools", "include"})
    if (const ojson* v = field(j, k); v && !(v->is_array() && v->empty()))
      return unimplemented(std::string(k) + " is not implemented", k);
  bool background = false;
  KAITO_TRY(read_bool(j, "background", "background", background));
  if (background) return unimplemented("background responses are not implemented", "background");
  int64_t top = 0;
  KAITO_TRY(read_int(
      j, "top_logprobs", "top_logprobs", "an integer in [0, 20]",
      [](int64_t v) { return v >= 0 && v <= 20; }, top));
  if (top > 0) return unimplemented("top_logprobs is not implemented here", "top_logprobs");
  return {};
}

ojson usage_of(const chat_result& r) {
  ojson u = ojson::object();
  u["input_tokens"] = r.prompt_tokens;
  u["input_tokens_details"] = {{"cached_tokens", r.cached_tokens}};
  u["output_tokens"] = r.completion_tokens;
  u["output_tokens_details"] = {{"reasoning_tokens", 0}};
  u["total_tokens"] = r.prompt_tokens + r.completion_tokens;
  return u;
}

ojson text_part(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", ojson::array()}};
}

ojson message_item(const responses_ids& ids, const chat_result* r) {
  ojson m = ojson::object();
  m["type"] = "message";
  m["id"] = "msg_" + ids.message_id;
  m["status"] = r ? "completed" : "in_progress";
  m["role"] = "assistant";
  m["content"] = r ? ojson::array({text_part(r->text)}) : ojson::array();
  return m;
}

ojson response_object(const responses_ids& ids, const chat_result* r) {
  const bool cut = r && r->finish_reason == "length";
  ojson j = ojson::object();
  j["id"] = "resp_" + ids.response_id;
  j["object"] = "response";
  j["created_at"] = ids.created_unix_s;
  j["status"] = !r ? "in_progress" : cut ? "incomplete" : "completed";
  j["error"] = nullptr;
  j["incomplete_details"] = cut ? ojson({{"reason", "max_output_tokens"}}) : ojson(nullptr);
  j["model"] = ids.model;
  j["output"] = r ? ojson::array({message_item(ids, r)}) : ojson::array();
  j["parallel_tool_calls"] = false;
  j["tool_choice"] = "none";
  j["tools"] = ojson::array();
  if (r) {
    j["output_text"] = r->text;
    j["usage"] = usage_of(*r);
  } else {
    j["usage"] = nullptr;
  }
  return j;
}

}  // namespace

result<chat_request> parse_responses_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  chat_request req;
  req.params.max_tokens = int64_t(1) << 20;  // until the context ends
  KAITO_TRY(chat_fields::read_string(j, "model", "model", req.model));
  ojson messages = ojson::array();
  std::string instructions;
  KAITO_TRY(chat_fields::read_string(j, "instructions", "instructions", instructions));
  const ojson* input = field(j, "input");
  if (!input) return invalid_argument("required: a string or an array of messages", "input");
  if (input->is_string()) {
    messages.push_back({{"role", "user"}, {"content", *input}});
  } else if (input->is_array() && !input->empty()) {
    for (size_t i = 0; i < input->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(ojson m, message_of((*input)[i], "input[" + std::to_string(i) + "]"));
      messages.push_back(std::move(m));
    }
  } else {
    return wrong(*input, "input", "a string or a non-empty array of messages");
  }
  KAITO_ASSIGN_OR_RETURN(req.messages, chat_fields::parse_messages(messages, "input"));
  if (!instructions.empty())  // a system message first
    req.messages.insert(req.messages.begin(),
                        ojson({{"role", "system"}, {"content", instructions}}));
  chat_params& p = req.params;
  KAITO_TRY(read_int(
      j, "max_output_tokens", "max_output_tokens", "an integer in [1, 1048576]",
      [](int64_t v) { return v >= 1 && v <= (int64_t(1) << 20); }, p.max_tokens));
  KAITO_TRY(read_real(
      j, "temperature", "temperature", "a number in [0, 2]",
      [](double d) { return d >= 0 && d <= 2; }, p.temperature));
  KAITO_TRY(read_real(
      j, "top_p", "top_p", "a number in (0, 1]", [](double d) { return d > 0 && d <= 1; },
      p.top_p));
  KAITO_TRY(read_bool(j, "stream", "stream", req.stream));
  if (const ojson* text = field(j, "text")) {
    if (!text->is_object()) return wrong(*text, "text", "an object {\"format\": ...}");
    if (const ojson* format = field(*text, "format")) {
      chat_fields::text_format f;
      KAITO_TRY(chat_fields::read_text_format(*format, "text.format", /*nested=*/false, f));
      p.json_object = f.json_object;
      p.json_schema = f.schema;
      p.json_schema_where = f.schema_where;
    }
  }
  KAITO_TRY(check_unimplemented(j));
  return req;
}

std::string responses_body(const responses_ids& ids, const chat_result* r) {
  return dump_utf8(response_object(ids, r));
}

std::string responses_stream::event(const std::string& type, ojson body) {
  ojson j = ojson::object();
  j["type"] = type;
  j["sequence_number"] = seq_++;
  for (auto& [k, v] : body.items()) j[k] = std::move(v);
  return "event: " + type + "\ndata: " + dump_utf8(j) + "\n\n";
}

std::string responses_stream::start() {
  std::string out = event("response.created", {{"response", response_object(ids_, nullptr)}});
  out += event("response.in_progress", {{"response", response_object(ids_, nullptr)}});
  out += event("response.output_item.added",
               {{"output_index", 0}, {"item", message_item(ids_, nullptr)}});
  out += event("response.content_part.added", {{"item_id", "msg_" + ids_.message_id},
                                               {"output_index", 0},
                                               {"content_index", 0},
                                               {"part", text_part("")}});
  return out;
}

std::string responses_stream::delta(const std::string& piece) {
  return event("response.output_text.delta", {{"item_id", "msg_" + ids_.message_id},
                                              {"output_index", 0},
                                              {"content_index", 0},
                                              {"delta", piece},
                                              {"logprobs", ojson::array()}});
}

std::string responses_stream::finish(const chat_result& r) {
  const std::string item = "msg_" + ids_.message_id;
  std::string out = event("response.output_text.done", {{"item_id", item},
                                                        {"output_index", 0},
                                                        {"content_index", 0},
                                                        {"text", r.text},
                                                        {"logprobs", ojson::array()}});
  out += event(
      "response.content_part.done",
      {{"item_id", item}, {"output_index", 0}, {"content_index", 0}, {"part", text_part(r.text)}});
  out +=
      event("response.output_item.done", {{"output_index", 0}, {"item", message_item(ids_, &r)}});
  const bool cut = r.finish_reason == "length";
  out += event(cut ? "response.incomplete" : "response.completed",
               {{"response", response_object(ids_, &r)}});
  return out;
}

std::string responses_stream::error(const status& s) {
  return event("error", {{"code", nullptr},
                         {"message", s.to_string()},
                         {"param", s.where().empty() ? ojson(nullptr) : ojson(s.where())}});
}

}  // namespace kaito::api
