// chat_tools: OpenAI's function tools on chat completions, answered as vLLM answers a forced
// call without a model-specific tool parser: tool_choice "required" or a named function holds the
// answer to a JSON schema (constrained generation, engine/json_schema.h), and the answer becomes
// message.tool_calls.
//
// Request: tools, an array (at most 128) of {"type": "function", "function": {"name": 1 to 64 of
// a-z A-Z 0-9 _ - (OpenAI's rule), "description": a string, "parameters": a JSON schema object
// (absent: no arguments), "strict": a boolean}}, names unique; other tool types unimplemented.
// tool_choice: "none", "auto" (the default with tools), "required", or {"type": "function",
// "function": {"name": ...}} naming one of them; parallel_tool_calls (a boolean, default true):
// false makes "required" one call. "none" leaves the answer free. The tools reach the chat
// template either way (req.tools, its `tools`), as vLLM passes them.
//   auto (with tools): params.tool_call "auto"; the model chooses, and the server reads calls
//   out of the answer in the model's own format (tool_call_parser.h); a response_format may
//   come beside it.
//   named: the answer is that function's arguments (params.json_schema: its parameters).
//   required: [{"name": <a tool's name>, "parameters": <its parameters>}, ...] (minItems 1; each
//   call object closed); the tools' $defs and definitions are lifted to that schema's top, where
//   their "#/$defs/..." references point (a name two tools define differently: invalid_argument).
// A response_format or guided_json beside a forced call is invalid_argument.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

status read_tools(const chat_fields::ojson& j, chat_request& req);

// An assistant message's tool_calls at path (a conversation that called tools before):
// [{"id": a string, "type": "function", "function": {"name": a string, "arguments": a string}}],
// for the template with each call's arguments parsed to JSON where they are JSON (vLLM does the
// same: templates read arguments as an object).
result<chat_fields::ojson> read_message_tool_calls(const chat_fields::ojson& calls,
                                                   const std::string& path);

// The answer as calls (ids left empty for the caller): named, one call, the text its arguments
// (cut by max_tokens, cut too, as vLLM answers); required, the array read (arguments compact
// JSON), false when the text is not that whole array (cut by max_tokens).
bool tool_calls_of(const chat_params& p, const std::string& text, std::vector<tool_call>& out);

// One SSE event of a streamed call: choices[0].delta is {"tool_calls": [{"index": call_index,
// "id", "type": "function", "function": {"name", "arguments"}}]}; id, type and name only when
// call.id is not empty (a call's first chunk), arguments the piece in call.arguments.
std::string openai_tool_call_chunk(const std::string& id, const std::string& model,
                                   int64_t created_unix_s, const tool_call& call,
                                   int64_t call_index, bool usage_null, int64_t choice_index);

}  // namespace kaito::api
