// chat_api_fields: the JSON readers the chat request parsers share, and the one way the chat
// bodies are written (internal to protocol/api's chat_*.cpp and responses_api.cpp).
//
// Each read_* looks up o[key] (absent or null: returns ok and leaves `out` unchanged), checks its
// type and range and returns invalid_argument with where() = path and a message "expected <want>,
// got <what came>". `want` is the human text of the range ("a number in [0, 2]").
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api::chat_fields {

using ojson = nlohmann::ordered_json;

// The body as an object, or invalid_argument ("byte <offset>" for malformed JSON, "" otherwise).
result<ojson> parse_body(std::string_view body);

// o[key] when present and not null, else nullptr.
const ojson* field(const ojson& o, const char* key);
// j as compact JSON text that is always valid UTF-8 (bytes of model output that are not become
// U+FFFD).
std::string dump_utf8(const ojson& j);
// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join(const std::string& prefix, const char* key);
// What came, for messages: "a string", "an array", "true", "3.5", "null".
std::string came(const ojson& v);
// "expected <want>, got <came(v)>" at path.
status wrong(const ojson& v, const std::string& path, const std::string& want);
status unimplemented(std::string message, std::string where);

status read_real(const ojson& o, const char* key, const std::string& path, const char* want,
                 const std::function<bool(double)>& in_range, double& out);
// Integers; a float with an integral value (100.0) counts, as pydantic's lax mode reads it.
status read_int(const ojson& o, const char* key, const std::string& path, const char* want,
                const std::function<bool(int64_t)>& in_range, int64_t& out);
status read_bool(const ojson& o, const char* key, const std::string& path, bool& out);
status read_string(const ojson& o, const char* key, const std::string& path, std::string& out);

// OpenAI's answer format, chat's response_format or the Responses API's text.format, at path:
// {"type": "text" | "json_object" | "json_schema"}. json_schema comes with a name (a non-empty
// string), a schema (an object or a boolean; required), strict (a boolean) and description, in
// an object under "json_schema" (chat: nested) or beside "type" (Responses); the schema is kept
// as its JSON text for the engine to compile (engine/json_schema.h), which refuses what it
// cannot enforce naming schema_where's keyword. Anything else: invalid_argument naming the field.
struct text_format {
  bool json_object = false;
  std::string schema, schema_where;  // json_schema: the schema's JSON text, and its path
};
status read_text_format(const ojson& format, const std::string& path, bool nested,
                        text_format& out);
// One SSE event of a streamed chat answer: "data: {chat.completion.chunk}\n\n" with this one
// choice (and "usage": null when usage_null).
std::string chat_chunk_event(const std::string& id, const std::string& model,
                             int64_t created_unix_s, ojson choice, bool usage_null);
// A schema given as JSON or as its text (vLLM's guided_json, structured_outputs.json) at path.
status read_schema(const ojson& v, const std::string& path, text_format& out);
// An array of OpenAI messages -> [{role, content(string)}] (contract in chat_api.h).
result<ojson> parse_messages(const ojson& v, const std::string& path);

}  // namespace kaito::api::chat_fields
