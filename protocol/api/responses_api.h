// responses_api: OpenAI's Responses API, POST /v1/responses, as Kaito's transformers runtime
// (v0.9+, `transformers serve`) and vLLM serve it: one stateless text turn.
//
// Request (parse_responses_request -> the chat_request the engine answers): model (string),
// input (required: a string, one user message; or an array of message items {type?: "message",
// role: user | assistant | system | developer, content: a string or an array of parts {type:
// "input_text" | "output_text" | "text", text}}), instructions (a string: a system message first),
// max_output_tokens ([1, 1<<20]; absent: until the context ends), temperature ([0, 2]), top_p
// ((0, 1]), stream (bool), text.format ({"type": "text" | "json_object"}: params.json_object;
// {"type": "json_schema", "name", "schema", "strict"}: params.json_schema, see chat_api_fields.h).
// Unimplemented, naming the field: items of other types (function calls, ...), parts of other
// types (images, files), previous_response_id (nothing is stored: send the conversation as
// input), tools (non-empty), background true, include (non-empty), top_logprobs > 0.
// Other fields (store, metadata, user, reasoning, truncation,
// ...) are ignored. Errors as chat_api.h's (where() names the field path or "byte <offset>").
//
// Response: {"id":"resp_<id>","object":"response","created_at":..,"status":"completed" |
// "incomplete","incomplete_details":null | {"reason":"max_output_tokens"},"model":..,
// "output":[{"type":"message","id":"msg_<id>","status":"completed","role":"assistant",
// "content":[{"type":"output_text","text":..,"annotations":[]}]}],"output_text":..,
// "usage":{"input_tokens","output_tokens","total_tokens","input_tokens_details":{"cached_tokens"},
// "output_tokens_details":{"reasoning_tokens":0}}, ...}. Streamed (Server-Sent Events, "event:
// <type>\ndata: <json>\n\n", sequence_number counting from 0): response.created,
// response.in_progress, response.output_item.added, response.content_part.added, then
// response.output_text.delta per piece, then response.output_text.done, response.content_part.done,
// response.output_item.done and response.completed (or response.incomplete).
//
// Thread-safety: pure functions over values; a responses_stream belongs to one response.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "protocol/api/chat_api.h"

namespace kaito::api {

result<chat_request> parse_responses_request(std::string_view body);

struct responses_ids {
  std::string response_id, message_id;  // the parts after "resp_" and "msg_"
  std::string model;
  int64_t created_unix_s = 0;
};

// The response object; r null: in progress (no output yet).
std::string responses_body(const responses_ids& ids, const chat_result* r);

// The events of one streamed response, numbered in order.
class responses_stream {
 public:
  explicit responses_stream(responses_ids ids) : ids_(std::move(ids)) {}
  std::string start();                          // created .. content_part.added
  std::string delta(const std::string& piece);  // response.output_text.delta
  std::string finish(const chat_result& r);     // output_text.done .. completed / incomplete
  // A failure after the events began: "event: error" with {type, sequence_number, code,
  // message, param}.
  std::string error(const status& s);

 private:
  std::string event(const std::string& type, nlohmann::ordered_json body);
  responses_ids ids_;
  int64_t seq_ = 0;
};

}  // namespace kaito::api
