// tool_answer; see tool_answer.h.
#include "actors/tool_answer.h"

#include <utility>

#include "actors/inference_reply.h"

namespace kaito::actors {

tool_answer::tool_answer(const api::chat_params& p, api::tool_call_format format)
    : p_(p),
      format_(format),
      parser_(p.tool_call == "auto" ? format : api::tool_call_format::none) {
  if (p.tool_call == "named") named_ = api::tool_call{tool_call_id(format), p.tool_name, ""};
}

tool_answer::step tool_answer::feed(const std::string& piece) {
  if (p_.tool_call == "required") {
    held_ += piece;
    return {};
  }
  if (named_) {
    held_ += piece;
    return {"", piece};
  }
  std::string text = parser_.feed(piece);
  sent_ += text;
  return {std::move(text), ""};
}

tool_answer::end tool_answer::finish(const engine::chat_answer& a) {
  end e;
  e.result = to_result(a);
  if (named_) {
    e.result.text.clear();
    e.result.tool_calls = {{named_->id, named_->name, held_}};
    e.streamed_calls = 1;
  } else if (p_.tool_call == "required") {
    e.result.text = held_;
    attach_tool_calls(p_, format_, e.result);
    e.unsent = e.result.text;
  } else {
    api::parsed_answer rest = parser_.finish();
    e.unsent = std::move(rest.content);
    e.result.text = sent_ + e.unsent;  // (with calls: what came before them)
    e.result.tool_calls = std::move(rest.calls);
    for (api::tool_call& c : e.result.tool_calls) c.id = tool_call_id(format_);
    if (!e.result.tool_calls.empty() && e.result.finish_reason == "stop")
      e.result.finish_reason = "tool_calls";
  }
  return e;
}

}  // namespace kaito::actors
