// responses_api: OpenAI's Responses API, POST /v1/responses, as Kaito's transformers runtime
// (v0.9+, `transformers serve`) and vLLM serve it: one text turn (the conversation state of
// store / previous_response_id is responses_state.h's, merged into input by the server).
//
// Request (parse_responses_request -> the chat_request the engine answers): model (string),
// input (required: a string, one user message; or an array of message items {type?: "message",
// role: user | assistant | system | developer, content: a string or an array of parts {type:
// "input_text" | "output_text" | "text", text}}), instructions (a string: a system message first),
// max_output_tokens ([1, 1<<20]; absent: until the context ends), temperature ([0, 2]), top_p
// ((0, 1]), stream (bool), text.format ({"type": "text" | "json_object"}: params.json_object;
// {"type": "json_schema", "name", "schema", "strict"}: params.json_schema, see chat_api_fields.h).
// Function tools (chat_tools.h, in the Responses API's flat spelling): tools [{"type":
// "function", "name", "description", "parameters", "strict"}], tool_choice ("none" | "auto" |
// "required" | {"type": "function", "name"}), parallel_tool_calls; a forced call beside a JSON
// text.format is invalid_argument. Input items may be {"type": "function_call", "call_id",
// "name", "arguments"} (an assistant's call: it joins the assistant message just before it) and
// {"type": "function_call_output", "call_id", "output": a string or text parts} (a tool message).
// Unimplemented, naming the field: items of other types (reasoning, ...), parts of other types
// (images, files), tools of other types (web_search, ...), background true, include
// (non-empty), top_logprobs > 0; previous_response_id is refused here (the server merges it
// first). Other fields (store: the server's, metadata, user, reasoning, truncation, ...) are
// ignored. Errors as chat_api.h's (where() names the field path or "byte <offset>").
//
// Response: {"id":"resp_<id>","object":"response","created_at":..,"status":"completed" |
// "incomplete","incomplete_details":null | {"reason":"max_output_tokens"},"model":..,
// "output":[{"type":"message","id":"msg_<id>","status":"completed","role":"assistant",
// "content":[{"type":"output_text","text":..,"annotations":[]}]}, then per tool call
// {"type":"function_call","id":"fc_..","call_id":..,"name":..,"arguments":..,"status":
// "completed"}] (no message when the answer is calls alone),"output_text":..,
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

// What a response repeats of its request: tools as given, tool_choice ("auto" when absent) and
// parallel_tool_calls.
struct responses_echo {
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();
  nlohmann::ordered_json tool_choice = "auto";
  bool parallel_tool_calls = true;
};

result<chat_request> parse_responses_request(std::string_view body, responses_echo* echo = nullptr);

struct responses_ids {
  // the parts after "resp_" and "msg_"; a function call's item is "fc_<message_id>_<k>"
  std::string response_id, message_id;
  std::string model;
  int64_t created_unix_s = 0;
  responses_echo echo;
};

// The response object; r null: in progress (no output yet).
std::string responses_body(const responses_ids& ids, const chat_result* r);

// The events of one streamed response, numbered in order.
class responses_stream {
 public:
  explicit responses_stream(responses_ids ids) : ids_(std::move(ids)) {}
  std::string start();  // created, in_progress
  // response.output_text.delta (a non-empty piece; the first opens the message item:
  // output_item.added, content_part.added)
  std::string delta(const std::string& piece);
  // A call streamed as it comes (a named tool_choice's): output_item.added, then its
  // function_call_arguments.delta events.
  std::string call_begin(const tool_call& call);
  std::string call_delta(const std::string& arguments);
  // The end of r (its text streamed by delta; a call_begin's call is r.tool_calls[0]): the
  // message's output_text.done .. output_item.done (opened here when r has text or no calls),
  // the streamed call's function_call_arguments.done and output_item.done, each other call's
  // added / delta / done / done, then response.completed (or response.incomplete).
  std::string finish(const chat_result& r);
  // A failure after the events began: "event: error" with {type, sequence_number, code,
  // message, param}.
  std::string error(const status& s);

 private:
  std::string event(const std::string& type, nlohmann::ordered_json body);
  std::string open_message();
  responses_ids ids_;
  int64_t seq_ = 0;
  int64_t outputs_ = 0;         // output items opened so far
  int64_t message_index_ = -1;  // the message's output index once open
  int64_t call_index_ = -1;     // call_begin's call's output index
};

}  // namespace kaito::api
