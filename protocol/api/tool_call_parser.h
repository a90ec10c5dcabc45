// tool_call_parser: a model's own tool-call format read out of its answer, for OpenAI's
// tool_choice "auto" (the model chooses between text and calls). vLLM's tool parsers of the same
// names, whose non-streamed answers these equal (vllm/entrypoints/openai/tool_parsers):
//
//   hermes       Qwen2.5, Hermes (the chatml template's "<tool_call>" tags):
//                  text <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call> ...
//                content: the text before the first <tool_call>; calls: each tag's JSON (an
//                unclosed last tag holds the rest of the answer).
//   llama3_json  Llama 3.1 / 3.2 (JSON calls): the whole answer is <|python_tag|>? then
//                {"name": "f", "parameters": {...}} objects ("arguments" is read too) separated
//                by ";" (vLLM: "; "); content none.
//   mistral      Mistral v0.3: text [TOOL_CALLS] [{"name": "f", "arguments": {...}}, ...] (one
//                object read as [object]); content: the text before [TOOL_CALLS].
// An answer that holds no call marker is all content. One that does but whose calls do not read
// (bad JSON, a call without a string name or without arguments) is all content too, as vLLM
// answers it. Arguments come back as compact JSON text (a string argument that is JSON text is
// taken as that text).
//
// The format is the serving flag's (--tool-call-parser, a preset's tool_call_parser) or, when
// none is given, detected from the chat template: "<tool_call>" -> hermes, "[TOOL_CALLS]" ->
// mistral, "<|python_tag|>" with "parameters" -> llama3_json, else none ("auto" then refused).
//
// Streaming (tool_call_stream): text flows as content until a marker could be starting; from a
// marker on the rest is held, and at the end either becomes the calls or, when they do not read,
// content after all; so the content streamed plus the calls equal the non-streamed answer.
//
// Thread-safety: pure functions; a tool_call_stream belongs to one answer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "protocol/api/chat_api.h"

namespace kaito::api {

enum class tool_call_format { none, hermes, llama3_json, mistral };

// "hermes" | "llama3_json" | "mistral" | "none"; another name is invalid_argument at `where`
// listing these.
result<tool_call_format> tool_call_format_named(std::string_view name, const std::string& where);
std::string_view tool_call_format_name(tool_call_format f);
tool_call_format detect_tool_call_format(std::string_view chat_template_source);
// The special tokens the answer's text must keep for the parser (decoding skips special tokens
// otherwise): mistral's [TOOL_CALLS]; hermes' tags (special in some Hermes tokenizers).
// llama3_json reads its calls without <|python_tag|>, as vLLM's does.
std::vector<std::string> tool_call_markers(tool_call_format f);

struct parsed_answer {
  std::string content;           // "" with calls: none (message.content null)
  std::vector<tool_call> calls;  // ids left empty
};
parsed_answer parse_tool_calls(tool_call_format f, const std::string& text);

class tool_call_stream {
 public:
  explicit tool_call_stream(tool_call_format f) : format_(f) {}
  // The content that may go out now (possibly "").
  std::string feed(const std::string& piece);
  // At the end: the content still held (when no calls read) and the calls.
  parsed_answer finish();

 private:
  tool_call_format format_;
  std::string text_;    // the whole answer so far
  size_t sent_ = 0;     // bytes of text_ given out as content
  bool held_ = false;   // a marker came: the rest waits for the end
  bool plain_ = false;  // llama3_json: the answer did not start as a call (all content)
};

}  // namespace kaito::api
