// chat_response: the OpenAI and legacy /chat response, stream and error bodies (see chat_api.h).
// Every body goes through dump_utf8, so model output that is not UTF-8 still gives valid JSON.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/api/chat_api.h"
#include "protocol/api/chat_api_fields.h"

namespace kaito::api {
namespace {

using chat_fields::dump_utf8;
using ojson = nlohmann::ordered_json;

const char* openai_error_type(status_code c) {
  switch (c) {
    case status_code::invalid_argument:
    case status_code::not_found:
    case status_code::failed_precondition:
    case status_code::resource_exhausted:
      return "invalid_request_error";
    case status_code::unimplemented:
      return "not_implemented";
    default:
      return "server_error";
  }
}

// OpenAI's {"token", "logprob", "bytes"} (a logprob that is not finite: -9999.0, as vLLM).
ojson token_logprob(const std::string& token, double logprob) {
  ojson bytes = ojson::array();
  for (unsigned char c : token) bytes.push_back(int(c));
  ojson t = ojson::object();
  t["token"] = token;
  t["logprob"] = std::isfinite(logprob) ? logprob : -9999.0;
  t["bytes"] = std::move(bytes);
  return t;
}

// choices[i].logprobs of a chat answer: {"content": [{token, logprob, bytes, top_logprobs}...]}.
ojson chat_logprobs(const std::vector<logprob_entry>& entries) {
  ojson content = ojson::array();
  for (const logprob_entry& e : entries) {
    ojson t = token_logprob(e.token, e.logprob);
    ojson top = ojson::array();
    for (const auto& [token, lp] : e.top) top.push_back(token_logprob(token, lp));
    t["top_logprobs"] = std::move(top);
    content.push_back(std::move(t));
  }
  ojson j = ojson::object();
  j["content"] = std::move(content);
  return j;
}

// Code points in s (UTF-8 lead bytes; a stray continuation byte counts as none).
int64_t chars_of(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// choices[i].logprobs of a completion (OpenAI's legacy form); offset: the first token's start in
// characters, advanced past the entries.
ojson completion_logprobs(const std::vector<logprob_entry>& entries, int64_t& offset) {
  ojson tokens = ojson::array(), lps = ojson::array(), tops = ojson::array(),
        offsets = ojson::array();
  for (const logprob_entry& e : entries) {
    tokens.push_back(e.token);
    offsets.push_back(offset);
    offset += chars_of(e.token);
    if (std::isnan(e.logprob)) {  // the first prompt token: nothing predicted it
      lps.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    lps.push_back(std::isfinite(e.logprob) ? e.logprob : -9999.0);
    ojson top = ojson::object();
    for (const auto& [token, lp] : e.top) top[token] = std::isfinite(lp) ? lp : -9999.0;
    top[e.token] = std::isfinite(e.logprob) ? e.logprob : -9999.0;  // the chosen one, always
    tops.push_back(std::move(top));
  }
  ojson j = ojson::object();
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(lps);
  j["top_logprobs"] = std::move(tops);
  j["text_offset"] = std::move(offsets);
  return j;
}

ojson usage_of(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  ojson usage = ojson::object();
  usage["prompt_tokens"] = prompt_tokens;
  usage["completion_tokens"] = completion_tokens;
  usage["total_tokens"] = prompt_tokens + completion_tokens;
  if (cached_tokens > 0) usage["prompt_tokens_details"] = {{"cached_tokens", cached_tokens}};
  return usage;
}

ojson completion_choice(int64_t index, const std::string& text, ojson finish_reason) {
  ojson choice = ojson::object();
  choice["index"] = index;
  choice["text"] = text;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = std::move(finish_reason);
  return choice;
}

ojson completion_object(const std::string& id, const std::string& model, int64_t created_unix_s,
                        ojson choices) {
  ojson j = ojson::object();
  j["id"] = "cmpl-" + id;
  j["object"] = "text_completion";
  j["created"] = created_unix_s;
  j["model"] = model;
  j["choices"] = std::move(choices);
  return j;
}

// The usage of answers to one prompt: the prompt once, every answer's tokens, and as its cached
// tokens the fewest any answer found (of n choices of a new prompt one computes it and the others
// copy it: the request found none cached).
ojson usage_of(const std::vector<chat_result>& results) {
  int64_t completion = 0, cached = results.empty() ? 0 : results[0].cached_tokens;
  for (const chat_result& r : results) {
    completion += r.completion_tokens;
    cached = std::min(cached, r.cached_tokens);
  }
  return usage_of(results.empty() ? 0 : results[0].prompt_tokens, completion, cached);
}

}  // namespace

std::string openai_chat_response(const std::vector<chat_result>& results, const std::string& model,
                                 const std::string& id, int64_t created_unix_s) {
  ojson choices = ojson::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const chat_result& r = results[i];
    ojson message = ojson::object();
    message["role"] = "assistant";
    message["content"] = r.tool_calls.empty() || !r.text.empty() ? ojson(r.text) : ojson(nullptr);
    if (!r.tool_calls.empty()) {
      ojson calls = ojson::array();
      for (const tool_call& c : r.tool_calls)
        calls.push_back({{"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      message["tool_calls"] = std::move(calls);
    }
    ojson choice = ojson::object();
    choice["index"] = i;
    choice["message"] = std::move(message);
    choice["finish_reason"] = r.finish_reason;
    choice["logprobs"] = r.has_logprobs ? chat_logprobs(r.logprobs) : ojson(nullptr);
    choices.push_back(std::move(choice));
  }
  ojson j = ojson::object();
  j["id"] = "chatcmpl-" + id;
  j["object"] = "chat.completion";
  j["created"] = created_unix_s;
  j["model"] = model;
  j["choices"] = std::move(choices);
  j["usage"] = usage_of(results);
  return dump_utf8(j);
}

std::string openai_chat_response(const chat_result& r, const std::string& model,
                                 const std::string& id, int64_t created_unix_s) {
  return openai_chat_response(std::vector<chat_result>{r}, model, id, created_unix_s);
}

std::string openai_chat_chunk(const std::string& id, const std::string& model,
                              int64_t created_unix_s, const std::string* role,
                              const std::string* content, const std::string* finish_reason,
                              bool usage_null, const std::vector<logprob_entry>* logprobs,
                              int64_t index) {
  ojson delta = ojson::object();
  if (role) delta["role"] = *role;
  if (content) delta["content"] = *content;
  ojson choice = ojson::object();
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = logprobs ? chat_logprobs(*logprobs) : ojson(nullptr);
  choice["finish_reason"] = finish_reason ? ojson(*finish_reason) : ojson(nullptr);
  return chat_fields::chat_chunk_event(id, model, created_unix_s, std::move(choice), usage_null);
}

std::string openai_usage_chunk(const std::string& id, const std::string& model,
                               int64_t created_unix_s, const std::vector<chat_result>& results,
                               bool completions) {
  ojson j = ojson::object();
  j["id"] = (completions ? "cmpl-" : "chatcmpl-") + id;
  j["object"] = completions ? "text_completion" : "chat.completion.chunk";
  j["created"] = created_unix_s;
  j["model"] = model;
  j["choices"] = ojson::array();
  j["usage"] = usage_of(results);
  return "data: " + dump_utf8(j) + "\n\n";
}

std::string openai_usage_chunk(const std::string& id, const std::string& model,
                               int64_t created_unix_s, int64_t prompt_tokens,
                               int64_t completion_tokens, bool completions, int64_t cached_tokens) {
  const chat_result r{"", prompt_tokens, completion_tokens, "", cached_tokens};
  return openai_usage_chunk(id, model, created_unix_s, std::vector<chat_result>{r}, completions);
}

std::string openai_completion_response(const std::vector<chat_result>& results,
                                       const std::string& model, const std::string& id,
                                       int64_t created_unix_s) {
  ojson choices = ojson::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const chat_result& r = results[i];
    ojson choice = completion_choice(static_cast<int64_t>(i), r.text, ojson(r.finish_reason));
    if (r.has_logprobs) {
      int64_t offset = 0;
      choice["logprobs"] = completion_logprobs(r.logprobs, offset);
    }
    choices.push_back(std::move(choice));
  }
  ojson j = completion_object(id, model, created_unix_s, std::move(choices));
  j["usage"] = usage_of(results);
  return dump_utf8(j);
}

std::string openai_completion_response(const chat_result& r, const std::string& model,
                                       const std::string& id, int64_t created_unix_s) {
  return openai_completion_response(std::vector<chat_result>{r}, model, id, created_unix_s);
}

std::string openai_completion_chunk(const std::string& id, const std::string& model,
                                    int64_t created_unix_s, const std::string& text,
                                    const std::string* finish_reason, bool usage_null,
                                    const std::vector<logprob_entry>* logprobs,
                                    int64_t* text_offset, int64_t index) {
  ojson choice =
      completion_choice(index, text, finish_reason ? ojson(*finish_reason) : ojson(nullptr));
  if (logprobs) {
    int64_t zero = 0;
    choice["logprobs"] = completion_logprobs(*logprobs, text_offset ? *text_offset : zero);
  }
  ojson j = completion_object(id, model, created_unix_s, ojson::array({std::move(choice)}));
  if (usage_null) j["usage"] = nullptr;
  return "data: " + dump_utf8(j) + "\n\n";
}

std::string openai_stream_done() {
  return "data: [DONE]\n\n";
}

std::string openai_error_body(const status& s) {
  ojson e = ojson::object();
  e["message"] = s.to_string();
  e["type"] = openai_error_type(s.code());
  e["param"] = s.where().empty() ? ojson(nullptr) : ojson(s.where());
  e["code"] = nullptr;
  ojson j = ojson::object();
  j["error"] = std::move(e);
  return dump_utf8(j);
}

std::string openai_models_body(const std::vector<model_card>& models, int64_t created_unix_s) {
  ojson data = ojson::array();
  for (const model_card& card : models) {
    ojson m = ojson::object();
    m["id"] = card.id;
    m["object"] = "model";
    m["created"] = created_unix_s;
    m["owned_by"] = "kaito";
    if (!card.root.empty()) m["root"] = card.root;
    if (!card.parent.empty()) m["parent"] = card.parent;
    if (card.max_model_len > 0) m["max_model_len"] = card.max_model_len;
    data.push_back(std::move(m));
  }
  ojson j = ojson::object();
  j["object"] = "list";
  j["data"] = std::move(data);
  return dump_utf8(j);
}

std::string legacy_chat_response(const std::string& text) {
  ojson j = ojson::object();
  j["Result"] = text;
  return dump_utf8(j);
}

std::string legacy_error_body(const status& s) {
  ojson j = ojson::object();
  j["detail"] = s.to_string();
  return dump_utf8(j);
}

}  // namespace kaito::api
