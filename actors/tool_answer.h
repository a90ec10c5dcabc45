// tool_answer: one streamed answer's pieces under its request's tool_choice
// (protocol/api/chat_tools.h), for the routes that stream (chat completions, responses): what goes
// out as text, what as a named call's arguments, and what the end adds.
//   none:     every piece is text
//   named:    the call (its id and name) opens before any piece; every piece is its arguments
//   required: everything waits for the end: the calls, or (not whole calls) the text
//   auto:     text as it comes until the model's call marker (api::tool_call_stream), the calls
//             the model wrote at the end (finish_reason "tool_calls")
// The end's result equals what attach_tool_calls makes of the whole text (inference_reply.h).
// Thread-safety: belongs to one answer.
#pragma once

#include <optional>
#include <string>

#include "engine/chat_service.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

class tool_answer {
 public:
  tool_answer(const api::chat_params& p, api::tool_call_format format);

  // named: the call to open before the pieces (id and name, no arguments yet).
  const std::optional<api::tool_call>& named() const { return named_; }

  struct step {
    std::string text;       // to stream as text now (may be "")
    std::string arguments;  // named: to stream as the call's arguments
  };
  step feed(const std::string& piece);

  struct end {
    api::chat_result result;    // the whole answer: text, every call (ids set), finish reason
    std::string unsent;         // the end of result.text feed did not give out
    size_t streamed_calls = 0;  // calls given out already (named: its one)
  };
  end finish(const engine::chat_answer& a);

 private:
  const api::chat_params& p_;
  api::tool_call_format format_;
  std::optional<api::tool_call> named_;
  api::tool_call_stream parser_;
  std::string held_;  // required: the whole text; named: the arguments
  std::string sent_;  // none and auto: the text feed gave out
};

}  // namespace kaito::actors
