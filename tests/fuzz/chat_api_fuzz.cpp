// libFuzzer target: the chat request parsers and the response bodies (protocol/api/chat_api.h).
// The first byte picks the API ("2": OpenAI /v1/completions; "3": vLLM /tokenize; "5": vLLM
// /detokenize; "7": OpenAI /v1/responses; "9": vLLM's /v1/load_lora_adapter and
// /v1/unload_lora_adapter; else even, e.g. "0": OpenAI /v1/chat/completions; odd, "1": legacy
// /chat); the rest is the body. Any input gives a value or an error, never a crash; an accepted
// value respects the documented ranges, and every body built from it (or from the error) is valid
// JSON.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/url_query.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/chat_tools.h"
#include "protocol/api/lora_admin_api.h"
#include "protocol/api/responses_api.h"
#include "protocol/api/responses_items.h"
#include "protocol/api/responses_state.h"
#include "protocol/api/tokenize_api.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_json(const std::string& text) {
  check(nlohmann::json::accept(text));
}

void check_value(const kaito::api::chat_request& r, bool legacy) {
  const auto& p = r.params;
  // (completions with echo may ask for 0 new tokens; legacy /chat's max_new_tokens may win)
  check(p.max_tokens >= (r.echo ? 0 : 1) && p.max_tokens <= (int64_t{1} << 20));
  check(p.min_tokens >= 0 && p.min_p >= 0 && p.min_p <= 1);
  check(std::isfinite(p.temperature) && p.temperature >= 0 && (legacy || p.temperature <= 2));
  check(std::isfinite(p.top_p) && p.top_p > 0 && p.top_p <= 1);
  check(p.top_k >= 0);
  check(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0);
  check(p.stop.size() <= 4);
  for (const auto& s : p.stop) check(!s.empty());
  // a schema comes as JSON text with its path, never beside json_object; a tool_choice comes
  // with tools, a forced call with its schema
  if (!p.json_schema.empty()) {
    check_json(p.json_schema);
    check(!p.json_schema_where.empty() && !p.json_object);
  }
  check(p.tool_call.empty() || (r.tools.is_array() && !r.tools.empty()));
  check(p.tool_call.empty() || p.tool_call == "auto" || !p.json_schema.empty());
  for (const auto& [text, where] : p.tool_schemas) check_json(text);
  check(r.messages.is_array());
  check(r.messages.empty() != r.prompt.empty());  // exactly one form
  std::string all = r.prompt;
  for (const auto& m : r.messages) {
    check(m.is_object() && m["role"].is_string() && m["content"].is_string());
    for (const auto& [k, v] : m.items())  // (a conversation that called tools keeps its calls)
      check(k == "role" || k == "content" || (k == "tool_calls" && v.is_array()) ||
            (k == "tool_call_id" && v.is_string()));
    const auto& role = m["role"].get_ref<const std::string&>();
    check(role == "system" || role == "user" || role == "assistant" || role == "tool");
    all += m["content"].get_ref<const std::string&>();
  }
  // The texts as a model answer: every response body stays valid JSON (as calls too).
  kaito::api::chat_result res{all, 1, 2, "stop"};
  check_json(kaito::api::openai_chat_response(res, r.model, r.model, 0));
  if (!p.tool_call.empty() && kaito::api::tool_calls_of(p, all, res.tool_calls)) {
    check_json(kaito::api::openai_chat_response(res, r.model, r.model, 0));
    const std::string call =
        kaito::api::openai_tool_call_chunk(r.model, r.model, 0, res.tool_calls[0], 0, true, 0);
    check_json(call.substr(6, call.size() - 8));
  }
  std::string chunk = kaito::api::openai_chat_chunk(r.model, r.model, 0, &all, &all, &all);
  check(chunk.size() > 8);
  check_json(chunk.substr(6, chunk.size() - 8));
  check_json(kaito::api::legacy_chat_response(all));
  check_json(kaito::api::openai_models_body(
      {kaito::api::model_card{r.model}, kaito::api::model_card{all, all, r.model, 1}}, 0));
}

}  // namespace

// /tokenize and /detokenize (protocol/api/tokenize_api.h): one form or the other, ids in range,
// every body valid JSON.
void tokenize_bodies(uint8_t api, std::string_view body) {
  if (api == '3') {
    auto t = kaito::api::parse_tokenize_request(body);
    if (!t.ok()) return check_json(kaito::api::openai_error_body(t.error()));
    check(t->messages.is_array() && (t->messages.empty() || t->prompt.empty()));
    check_json(kaito::api::tokenize_response({1, 2, 3}, 4096));
    return;
  }
  auto d = kaito::api::parse_detokenize_request(body);
  if (!d.ok()) return check_json(kaito::api::openai_error_body(d.error()));
  for (int32_t id : d->tokens) check(id >= 0);
  check_json(kaito::api::detokenize_response(std::string(body)));
}

// /v1/responses (protocol/api/responses_api.h): a chat request, its response and events valid
// JSON (with a call when tools came: the request's tools repeated, a function_call item).
void responses_bodies(std::string_view body) {
  // Its conversation state: a history kept after it, and that history before it again.
  (void)kaito::api::read_responses_state(body);
  // Its item references, resolved against one stored message (any id but "none").
  auto resolved = kaito::api::responses_body_with_references(
      body, [](const std::string& id) -> std::optional<nlohmann::ordered_json> {
        if (id == "none") return std::nullopt;
        return nlohmann::ordered_json{
            {"type", "message"}, {"id", id}, {"role", "user"}, {"content", "x"}};
      });
  if (resolved.ok()) check_json(*resolved);
  if (auto history = kaito::api::responses_history_after(body, body); history.ok()) {
    auto merged = kaito::api::responses_body_with_history(body, *history);
    check(merged.ok());
    if (merged.ok()) check_json(*merged);
    // Its input items, a page (the body read as a query string too).
    kaito::api::input_items_query q;
    std::map<std::string, std::string> params;
    if (kaito::parse_query(body, params).ok())
      if (auto read = kaito::api::read_input_items_query(params); read.ok()) q = *read;
    auto page = kaito::api::responses_input_items_body(*history, body, q);
    if (page.ok()) check_json(*page);
  }
  kaito::api::responses_echo echo;
  auto r = kaito::api::parse_responses_request(body, &echo);
  if (!r.ok()) return check_json(kaito::api::openai_error_body(r.error()));
  check_value(*r, false);
  const kaito::api::responses_ids ids{r->model, r->model, r->model, 0, echo};
  kaito::api::chat_result res{r->model, 1, 2, "length"};
  const bool named = r->params.tool_call == "named";
  if (!r->params.tool_call.empty()) res.tool_calls = {{r->model, r->params.tool_name, r->model}};
  check_json(kaito::api::responses_body(ids, &res));
  kaito::api::responses_stream events(ids);
  std::vector<std::string> all{events.start()};
  if (named) all.push_back(events.call_begin(res.tool_calls[0]));
  if (named) all.push_back(events.call_delta(r->model));
  if (!r->model.empty()) all.push_back(events.delta(r->model));
  all.push_back(events.finish(res));
  for (const std::string& e : all) {
    size_t at = 0;
    while ((at = e.find("data: ", at)) != std::string::npos) {
      const size_t end = e.find("\n\n", at);
      check(end != std::string::npos);
      check_json(e.substr(at + 6, end - at - 6));
      at = end;
    }
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  if (data[0] == '7') {
    responses_bodies(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    return 0;
  }
  if (data[0] == '9') {  // vLLM's run-time LoRA bodies
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    auto load = kaito::api::parse_lora_load_request(body);
    if (load.ok()) check(!load->name.empty() && !load->path.empty());
    if (!load.ok()) check_json(kaito::api::openai_error_body(load.error()));
    auto unload = kaito::api::parse_lora_unload_request(body);
    if (unload.ok()) check(!unload->empty());
    if (!unload.ok()) check_json(kaito::api::openai_error_body(unload.error()));
    return 0;
  }
  if (data[0] == '3' || data[0] == '5') {
    tokenize_bodies(data[0], std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    return 0;
  }
  const bool completion = data[0] == '2', legacy = !completion && (data[0] & 1);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto r = completion ? kaito::api::parse_openai_completion_request(body)
           : legacy   ? kaito::api::parse_legacy_chat_request(body)
                      : kaito::api::parse_openai_chat_request(body);
  if (r.ok()) {
    check_value(*r, legacy);
    if (completion) {
      kaito::api::chat_result res{r->prompt, 1, 2, "length"};
      check_json(kaito::api::openai_completion_response(res, r->model, r->model, 0));
      std::string chunk =
          kaito::api::openai_completion_chunk(r->model, r->model, 0, r->prompt, nullptr, true);
      check_json(chunk.substr(6, chunk.size() - 8));
    }
  } else {
    check(!r.error().message().empty());
    check_json(kaito::api::openai_error_body(r.error()));
    check_json(kaito::api::legacy_error_body(r.error()));
  }
  return 0;
}
