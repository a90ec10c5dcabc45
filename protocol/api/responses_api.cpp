// responses_api; see responses_api.h.
#include "protocol/api/responses_api.h"

#include <utility>

#include "protocol/api/chat_api_fields.h"
#include "protocol/api/chat_tools.h"

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

// Content at `where`: a string, or an array of text parts {type: "input_text" | "output_text" |
// "text", text} -> chat's "text" parts (parse_messages joins them).
result<ojson> text_content(const ojson& content, const std::string& where) {
  if (content.is_string()) return content;
  if (!content.is_array()) return wrong(content, where, "a string or an array of text parts");
  ojson parts = ojson::array();
  for (size_t i = 0; i < content.size(); ++i) {
    const ojson& part = content[i];
    const std::string pat = where + "[" + std::to_string(i) + "]";
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
  return parts;
}

// A string field of an input item (required).
result<std::string> item_string(const ojson& item, const char* key, const std::string& at) {
  const ojson* v = field(item, key);
  if (!v || !v->is_string()) return wrong(v ? *v : ojson(), at + "." + key, "a string");
  return v->get<std::string>();
}

// One input item added to messages (chat's shape, for parse_messages): a message; a
// function_call (an assistant's tool call: joins the assistant message just before it, as
// parallel calls and text before calls do); a function_call_output (a tool message).
status add_item(const ojson& item, const std::string& at, ojson& messages) {
  if (!item.is_object()) return wrong(item, at, "an input item {type, ...}");
  std::string type = "message";
  KAITO_TRY(chat_fields::read_string(item, "type", at + ".type", type));
  if (type == "function_call") {
    KAITO_ASSIGN_OR_RETURN(std::string call_id, item_string(item, "call_id", at));
    KAITO_ASSIGN_OR_RETURN(std::string name, item_string(item, "name", at));
    KAITO_ASSIGN_OR_RETURN(std::string arguments, item_string(item, "arguments", at));
    ojson call = {{"id", call_id},
                  {"type", "function"},
                  {"function", {{"name", name}, {"arguments", arguments}}}};
    if (messages.empty() || messages.back()["role"] != "assistant")
      messages.push_back({{"role", "assistant"}, {"tool_calls", ojson::array()}});
    ojson& m = messages.back();
    if (!m.contains("tool_calls")) m["tool_calls"] = ojson::array();
    m["tool_calls"].push_back(std::move(call));
    return {};
  }
  if (type == "function_call_output") {
    KAITO_ASSIGN_OR_RETURN(std::string call_id, item_string(item, "call_id", at));
    const ojson* output = field(item, "output");
    if (!output)
      return invalid_argument("required: a string or an array of text parts", at + ".output");
    KAITO_ASSIGN_OR_RETURN(ojson content, text_content(*output, at + ".output"));
    messages.push_back({{"role", "tool"}, {"tool_call_id", call_id}, {"content", content}});
    return {};
  }
  if (type != "message")
    return unimplemented("input items of type \"" + type +
                             "\" are not implemented; messages, function_call and "
                             "function_call_output are",
                         at + ".type");
  ojson m = ojson::object();  // (parse_messages checks the role, and content's presence)
  if (const ojson* role = field(item, "role")) m["role"] = *role;
  if (const ojson* content = field(item, "content")) {
    KAITO_ASSIGN_OR_RETURN(m["content"], text_content(*content, at + ".content"));
  }
  messages.push_back(std::move(m));
  return {};
}

// "tools[i].function.x" -> "tools[i].x", "tool_choice.function.name" -> "tool_choice.name": chat's
// paths (chat_tools.h) as the Responses API's flat tools spell them.
std::string flat_path(std::string where) {
  const size_t at = where.find(".function");
  if (at != std::string::npos && (at + 9 == where.size() || where[at + 9] == '.'))
    where.erase(at, 9);
  return where;
}

// The Responses API's function tools ({"type": "function", "name", "description", "parameters",
// "strict"}, flat) and tool_choice ({"type": "function", "name"} for a named one) read as chat's
// (chat_tools.h); errors name the Responses fields. Other tool types are unimplemented.
status read_response_tools(const ojson& j, chat_request& req) {
  ojson chat = ojson::object();
  if (const ojson* tools = field(j, "tools")) {
    if (!tools->is_array()) return wrong(*tools, "tools", "an array of tools");
    ojson converted = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& t = (*tools)[i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!t.is_object()) return wrong(t, at, "a tool {\"type\": \"function\", \"name\", ...}");
      const ojson* type = field(t, "type");
      if (type && type->is_string() && *type != "function")
        return unimplemented("tools of type " + chat_fields::came(*type) +
                                 " are not implemented; \"function\" tools are",
                             at + ".type");
      if (!type || *type != "function")
        return wrong(type ? *type : ojson(), at + ".type", "\"function\"");
      ojson function = ojson::object();
      for (const char* k : {"name", "description", "parameters", "strict"})
        if (const ojson* v = field(t, k)) function[k] = *v;
      converted.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    chat["tools"] = std::move(converted);
  }
  if (const ojson* choice = field(j, "tool_choice")) {
    chat["tool_choice"] = *choice;
    if (choice->is_object() && choice->contains("type") && (*choice)["type"] == "function") {
      ojson named = {{"type", "function"}, {"function", ojson::object()}};
      if (const ojson* name = field(*choice, "name")) named["function"]["name"] = *name;
      chat["tool_choice"] = std::move(named);
    }
  }
  if (const ojson* parallel = field(j, "parallel_tool_calls"))
    chat["parallel_tool_calls"] = *parallel;
  if (status s = read_tools(chat, req); !s.ok())
    return status(s.code(), s.message(), flat_path(s.where()));
  chat_params& p = req.params;
  p.json_schema_where = flat_path(p.json_schema_where);
  for (auto& schema : p.tool_schemas) schema.second = flat_path(schema.second);
  return {};
}

// Fields that would change the answer and that we do not implement.
status check_unimplemented(const ojson& j) {
  if (field(j, "previous_response_id"))
    return unimplemented(
        "previous_response_id is the server's: its stored conversation goes into input first "
        "(responses_body_with_history)",
        "previous_response_id");
  if (const ojson* v = field(j, "include"); v && !(v->is_array() && v->empty()))
    return unimplemented("include is not implemented", "include");
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

// A function call's output item; done: with its arguments and "completed".
ojson call_item(const responses_ids& ids, const tool_call& c, size_t k, bool done) {
  ojson item = ojson::object();
  item["type"] = "function_call";
  item["id"] = "fc_" + ids.message_id + "_" + std::to_string(k);
  item["call_id"] = c.id;
  item["name"] = c.name;
  item["arguments"] = done ? c.arguments : "";
  item["status"] = done ? "completed" : "in_progress";
  return item;
}

// The answer has a message item: text, or no calls.
bool has_message(const chat_result& r) {
  return r.tool_calls.empty() || !r.text.empty();
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
  ojson output = ojson::array();
  if (r && has_message(*r)) output.push_back(message_item(ids, r));
  for (size_t k = 0; r && k < r->tool_calls.size(); ++k)
    output.push_back(call_item(ids, r->tool_calls[k], k, true));
  j["output"] = std::move(output);
  j["parallel_tool_calls"] = ids.echo.parallel_tool_calls;
  j["tool_choice"] = ids.echo.tool_choice;
  j["tools"] = ids.echo.tools;
  if (r) {
    j["output_text"] = r->text;
    j["usage"] = usage_of(*r);
  } else {
    j["usage"] = nullptr;
  }
  return j;
}

}  // namespace

result<chat_request> parse_responses_request(std::string_view body, responses_echo* echo) {
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
    for (size_t i = 0; i < input->size(); ++i)
      KAITO_TRY(add_item((*input)[i], "input[" + std::to_string(i) + "]", messages));
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
  chat_fields::text_format f;
  if (const ojson* text = field(j, "text")) {
    if (!text->is_object()) return wrong(*text, "text", "an object {\"format\": ...}");
    if (const ojson* format = field(*text, "format"))
      KAITO_TRY(chat_fields::read_text_format(*format, "text.format", /*nested=*/false, f));
  }
  KAITO_TRY(read_response_tools(j, req));
  const bool forced = p.tool_call == "named" || p.tool_call == "required";
  if (forced && (f.json_object || !f.schema.empty()))
    return invalid_argument("both tool_choice and text.format ask for a format; send one",
                            "text.format");
  if (!forced) {
    p.json_object = f.json_object;
    p.json_schema = f.schema;
    p.json_schema_where = f.schema_where;
  }
  KAITO_TRY(check_unimplemented(j));
  if (echo) {
    const ojson* tools = field(j, "tools");
    const ojson* choice = field(j, "tool_choice");
    echo->tools = tools ? *tools : ojson::array();
    echo->tool_choice = choice ? *choice : ojson("auto");
    echo->parallel_tool_calls = true;
    KAITO_TRY(
        read_bool(j, "parallel_tool_calls", "parallel_tool_calls", echo->parallel_tool_calls));
  }
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
  return out;
}

std::string responses_stream::open_message() {
  message_index_ = outputs_++;
  std::string out = event("response.output_item.added", {{"output_index", message_index_},
                                                         {"item", message_item(ids_, nullptr)}});
  out += event("response.content_part.added", {{"item_id", "msg_" + ids_.message_id},
                                               {"output_index", message_index_},
                                               {"content_index", 0},
                                               {"part", text_part("")}});
  return out;
}

std::string responses_stream::delta(const std::string& piece) {
  std::string out = message_index_ < 0 ? open_message() : std::string();
  return out + event("response.output_text.delta", {{"item_id", "msg_" + ids_.message_id},
                                                    {"output_index", message_index_},
                                                    {"content_index", 0},
                                                    {"delta", piece},
                                                    {"logprobs", ojson::array()}});
}

std::string responses_stream::call_begin(const tool_call& call) {
  call_index_ = outputs_++;
  return event("response.output_item.added",
               {{"output_index", call_index_}, {"item", call_item(ids_, call, 0, false)}});
}

std::string responses_stream::call_delta(const std::string& arguments) {
  return event("response.function_call_arguments.delta",
               {{"item_id", "fc_" + ids_.message_id + "_0"},
                {"output_index", call_index_},
                {"delta", arguments}});
}

std::string responses_stream::finish(const chat_result& r) {
  std::string out;
  if (has_message(r) && message_index_ < 0) {
    out += open_message();
    if (!r.text.empty()) out += delta(r.text);
  }
  if (message_index_ >= 0) {
    const std::string item = "msg_" + ids_.message_id;
    out += event("response.output_text.done", {{"item_id", item},
                                               {"output_index", message_index_},
                                               {"content_index", 0},
                                               {"text", r.text},
                                               {"logprobs", ojson::array()}});
    out += event("response.content_part.done", {{"item_id", item},
                                                {"output_index", message_index_},
                                                {"content_index", 0},
                                                {"part", text_part(r.text)}});
    out += event("response.output_item.done",
                 {{"output_index", message_index_}, {"item", message_item(ids_, &r)}});
  }
  for (size_t k = 0; k < r.tool_calls.size(); ++k) {
    const tool_call& c = r.tool_calls[k];
    const bool streamed = k == 0 && call_index_ >= 0;
    const int64_t index = streamed ? call_index_ : outputs_++;
    const std::string item = "fc_" + ids_.message_id + "_" + std::to_string(k);
    if (!streamed) {
      out += event("response.output_item.added",
                   {{"output_index", index}, {"item", call_item(ids_, c, k, false)}});
      out += event("response.function_call_arguments.delta",
                   {{"item_id", item}, {"output_index", index}, {"delta", c.arguments}});
    }
    out += event("response.function_call_arguments.done",
                 {{"item_id", item}, {"output_index", index}, {"arguments", c.arguments}});
    out += event("response.output_item.done",
                 {{"output_index", index}, {"item", call_item(ids_, c, k, true)}});
  }
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
