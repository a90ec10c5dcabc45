// libFuzzer target: tool_call_parser (a model's answer read for tool calls). The first byte picks
// the format, the second the cut size; the rest is the answer. Must never crash, abort or hang;
// the answer streamed in pieces of that size gives the same content and calls as the whole; and
// every call's arguments are JSON text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/api/tool_call_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kaito::api::tool_call_format;
  if (size < 2) return 0;
  const tool_call_format formats[] = {tool_call_format::none, tool_call_format::hermes,
                                      tool_call_format::llama3_json, tool_call_format::mistral};
  const tool_call_format f = formats[data[0] % 4];
  const size_t cut = 1 + data[1] % 16;
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  const kaito::api::parsed_answer whole = kaito::api::parse_tool_calls(f, text);
  if (whole.calls.empty() && whole.content != text) std::abort();
  for (const auto& c : whole.calls)
    if (nlohmann::json::parse(c.arguments, nullptr, false).is_discarded()) std::abort();
  kaito::api::tool_call_stream s(f);
  std::string content;
  for (size_t i = 0; i < text.size(); i += cut) content += s.feed(text.substr(i, cut));
  const kaito::api::parsed_answer end = s.finish();
  content += end.content;
  if (content != whole.content || end.calls.size() != whole.calls.size()) std::abort();
  for (size_t i = 0; i < end.calls.size(); ++i)
    if (end.calls[i].name != whole.calls[i].name ||
        end.calls[i].arguments != whole.calls[i].arguments)
      std::abort();
  return 0;
}
