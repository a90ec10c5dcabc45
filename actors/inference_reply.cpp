// inference_reply; see inference_reply.h.
#include "actors/inference_reply.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "protocol/api/chat_tools.h"

namespace kaito::actors {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t fresh_seed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// The part after "chatcmpl-" (chat_api adds the prefix).
std::string completion_id() {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fresh_seed()));
  return buf;
}

int http_code(const status& s) {
  switch (s.code()) {
    case status_code::invalid_argument:
    case status_code::failed_precondition:  // e.g. the template's raise_exception
      return 400;
    case status_code::not_found:
      return 404;
    case status_code::unimplemented:
      return 501;
    case status_code::resource_exhausted:
      return 413;
    case status_code::unavailable:  // e.g. the server is shutting down: retry elsewhere
      return 503;
    default:
      return 500;
  }
}

engine::chat_options engine_options(const api::chat_params& p) {
  engine::chat_options o;
  o.max_tokens = p.max_tokens;
  o.sampling.temperature = p.temperature;
  o.sampling.top_p = p.top_p;
  o.sampling.min_p = p.min_p;
  o.sampling.top_k = p.top_k;
  o.sampling.repetition_penalty = p.repetition_penalty;
  o.sampling.presence_penalty = p.presence_penalty;
  o.sampling.frequency_penalty = p.frequency_penalty;
  for (const auto& [id, bias] : p.logit_bias)
    o.sampling.logit_bias.emplace_back(id, static_cast<float>(bias));
  o.sampling.seed = p.has_seed ? p.seed : fresh_seed();
  o.stop = p.stop;
  o.logprobs = p.logprobs;
  o.prompt_logprobs = p.prompt_logprobs;
  o.json_object = p.json_object;
  o.json_compact = p.json_compact;
  o.ignore_eos = p.ignore_eos;
  o.stop_token_ids = p.stop_token_ids;
  o.stop_token_ids_field = p.stop_token_ids_field;
  o.min_tokens = p.min_tokens;
  return o;
}

bool accept_options(const api::chat_params& p, http_reply& out, engine::chat_options& o) {
  o = engine_options(p);
  auto refuse = [&](const status& s) {
    reply_json(out, http_code(s), api::openai_error_body(s));
    return false;
  };
  // "required" holds the answer to every tool's parameters: each compiles first, so an error
  // names that tool (a named call's is json_schema itself; "auto" and "none" enforce none).
  if (p.tool_call == "required")
    for (const auto& [text, where] : p.tool_schemas)
      if (auto tool = engine::json_schema::parse(text, where); !tool.ok())
        return refuse(tool.error());
  if (p.json_schema.empty()) return true;
  auto schema = engine::json_schema::parse(p.json_schema, p.json_schema_where);
  if (!schema.ok()) return refuse(schema.error());
  o.schema = *schema;
  return true;
}

std::string tool_call_id(api::tool_call_format format) {
  if (format != api::tool_call_format::mistral)
    return "chatcmpl-tool-" + completion_id() + completion_id();
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id;
  uint64_t bits = fresh_seed();
  for (int i = 0; i < 9; ++i, bits /= 62) id += kAlphabet[bits % 62];
  return id;
}

void attach_tool_calls(const api::chat_params& p, api::tool_call_format format,
                       api::chat_result& r) {
  std::vector<api::tool_call> calls;
  if (p.tool_call == "auto") {
    api::parsed_answer a = api::parse_tool_calls(format, r.text);
    if (a.calls.empty()) return;
    r.text = std::move(a.content);
    calls = std::move(a.calls);
    if (r.finish_reason == "stop") r.finish_reason = "tool_calls";
  } else if (p.tool_call.empty() || !api::tool_calls_of(p, r.text, calls)) {
    return;
  } else {
    r.text.clear();
  }
  for (api::tool_call& c : calls) c.id = tool_call_id(format);
  r.tool_calls = std::move(calls);
}

std::vector<api::model_card> served_model_cards(const engine::chat_service& svc,
                                                const std::string& name) {
  std::vector<api::model_card> cards = {{name, "", "", svc.context_length()}};
  for (const auto& m : svc.merged_names()) cards.push_back({m.name, m.shown_root(), name, 0});
  for (const auto& m : svc.lora_modules()) cards.push_back({m.name, m.shown_root(), name, 0});
  return cards;
}

std::vector<api::logprob_entry> to_entries(const std::vector<engine::answer_logprob>& lps) {
  std::vector<api::logprob_entry> out;
  out.reserve(lps.size());
  for (const engine::answer_logprob& e : lps) out.push_back({e.token, e.logprob, e.top});
  return out;
}

api::chat_result to_result(const engine::chat_answer& a, bool has_logprobs) {
  api::chat_result r;
  r.text = a.text;
  r.prompt_tokens = a.prompt_tokens;
  r.completion_tokens = a.completion_tokens;
  r.finish_reason = a.length ? "length" : "stop";
  r.cached_tokens = a.cached_tokens;
  r.has_logprobs = has_logprobs;
  if (has_logprobs) r.logprobs = to_entries(a.logprobs);
  return r;
}

void reply_json(http_reply& out, int code, std::string body) {
  out.status = code;
  out.content_type = "application/json";
  out.body = std::move(body);
}

}  // namespace kaito::actors
