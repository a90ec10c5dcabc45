// tool_call_parser; see tool_call_parser.h.
#include "protocol/api/tool_call_parser.h"

#include <algorithm>
#include <utility>

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

namespace {

using chat_fields::dump_utf8;
using chat_fields::ojson;

constexpr std::string_view kHermesOpen = "<tool_call>", kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistral = "[TOOL_CALLS]";

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && space(s[i])) ++i;
  return i;
}

bool starts_with(std::string_view s, size_t at, std::string_view p) {
  return s.size() >= at + p.size() && s.compare(at, p.size(), p) == 0;
}

// One call object as vLLM reads it: a string "name" and "arguments" (or, for llama3_json,
// "parameters"); false when it is not one.
bool read_call(const ojson& c, bool parameters_too, std::vector<tool_call>& out) {
  if (!c.is_object()) return false;
  const auto name = c.find("name");
  if (name == c.end() || !name->is_string()) return false;
  auto args = c.find("arguments");
  if (args == c.end() && parameters_too) args = c.find("parameters");
  if (args == c.end()) return false;
  std::string text = dump_utf8(*args);
  if (args->is_string()) {  // arguments given as JSON text: that text (compact)
    const ojson inner = ojson::parse(args->get_ref<const std::string&>(), nullptr, false);
    if (!inner.is_discarded() && inner.is_object()) text = dump_utf8(inner);
  }
  out.push_back({"", name->get<std::string>(), std::move(text)});
  return true;
}

// Walks s from i by brackets and strings alone: returns just past the bracket that closes the
// first one opened (npos when none does); `deepest` gets the deepest nesting passed.
size_t bracket_walk(std::string_view s, size_t i, int& deepest) {
  int depth = 0;
  bool in_string = false;
  deepest = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// The end of the JSON object or array that starts at s[i] (npos when it does not close).
size_t container_end(std::string_view s, size_t i) {
  int deepest = 0;
  return bracket_walk(s, i, deepest);
}

// JSON text parsed (discarded when it is not JSON, or nested deeper than kMaxDepth: no call is,
// and writing it back would recurse that deep).
constexpr int kMaxDepth = 64;
ojson parse_json(std::string_view s) {
  int deepest = 0;
  bracket_walk(s, 0, deepest);
  if (deepest > kMaxDepth) return ojson(ojson::value_t::discarded);
  return ojson::parse(s.begin(), s.end(), nullptr, false);
}

bool hermes_calls(std::string_view text, size_t at, std::vector<tool_call>& out) {
  while (at != std::string_view::npos) {
    const size_t body = at + kHermesOpen.size();
    const size_t close = text.find(kHermesClose, body);
    const std::string_view json =
        close == std::string_view::npos ? text.substr(body) : text.substr(body, close - body);
    if (!read_call(parse_json(json), false, out)) return false;
    at = close == std::string_view::npos ? close
                                         : text.find(kHermesOpen, close + kHermesClose.size());
  }
  return !out.empty();
}

bool llama3_calls(std::string_view text, std::vector<tool_call>& out) {
  size_t i = skip_space(text, 0);
  if (starts_with(text, i, kPythonTag)) i = skip_space(text, i + kPythonTag.size());
  while (i < text.size()) {
    if (text[i] != '{') return false;
    const size_t end = container_end(text, i);
    if (end == std::string_view::npos) return false;
    if (!read_call(parse_json(text.substr(i, end - i)), true, out)) return false;
    i = skip_space(text, end);
    if (i < text.size()) {
      if (text[i] != ';') return false;
      i = skip_space(text, i + 1);
    }
  }
  return !out.empty();
}

bool mistral_calls(std::string_view text, size_t at, std::vector<tool_call>& out) {
  std::string rest;  // after the marker, other markers dropped (as vLLM's replace)
  for (size_t i = at; i != std::string_view::npos;) {
    const size_t from = i + kMistral.size(), next = text.find(kMistral, from);
    rest += text.substr(from, next == std::string_view::npos ? next : next - from);
    i = next;
  }
  ojson calls = parse_json(rest);
  if (calls.is_discarded()) {  // vLLM's fallback: the span from the first "[{" to the last "}]"
    const size_t a = rest.find("[{"), b = rest.rfind("}]");
    if (a == std::string::npos || b == std::string::npos || b < a) return false;
    calls = parse_json(std::string_view(rest).substr(a, b + 2 - a));
  }
  if (calls.is_object()) calls = ojson::array({std::move(calls)});
  if (!calls.is_array()) return false;
  for (const ojson& c : calls)
    if (!read_call(c, false, out)) return false;
  return !out.empty();
}

// The longest end of s that is a proper beginning of marker (text that may still become it).
size_t partial_marker(std::string_view s, std::string_view marker) {
  for (size_t k = std::min(s.size(), marker.size() - 1); k > 0; --k)
    if (s.compare(s.size() - k, k, marker.substr(0, k)) == 0) return k;
  return 0;
}

}  // namespace

result<tool_call_format> tool_call_format_named(std::string_view name, const std::string& where) {
  for (tool_call_format f : {tool_call_format::none, tool_call_format::hermes,
                             tool_call_format::llama3_json, tool_call_format::mistral})
    if (name == tool_call_format_name(f)) return f;
  return invalid_argument("unknown tool call parser \"" + std::string(name) +
                              "\"; known: hermes, llama3_json, mistral, none",
                          where);
}

std::string_view tool_call_format_name(tool_call_format f) {
  switch (f) {
    case tool_call_format::hermes:
      return "hermes";
    case tool_call_format::llama3_json:
      return "llama3_json";
    case tool_call_format::mistral:
      return "mistral";
    case tool_call_format::none:
      break;
  }
  return "none";
}

tool_call_format detect_tool_call_format(std::string_view t) {
  if (t.find(kHermesOpen) != std::string_view::npos) return tool_call_format::hermes;
  if (t.find(kMistral) != std::string_view::npos) return tool_call_format::mistral;
  if (t.find(kPythonTag) != std::string_view::npos &&
      t.find("parameters") != std::string_view::npos)
    return tool_call_format::llama3_json;
  return tool_call_format::none;
}

std::vector<std::string> tool_call_markers(tool_call_format f) {
  switch (f) {
    case tool_call_format::hermes:
      return {std::string(kHermesOpen), std::string(kHermesClose)};
    case tool_call_format::mistral:
      return {std::string(kMistral)};
    case tool_call_format::llama3_json:  // (its calls read without the tag, as vLLM's)
    case tool_call_format::none:
      break;
  }
  return {};
}

parsed_answer parse_tool_calls(tool_call_format f, const std::string& text) {
  parsed_answer out;
  size_t at = std::string::npos;
  bool read = false;
  switch (f) {
    case tool_call_format::hermes:
      at = text.find(kHermesOpen);
      read = at != std::string::npos && hermes_calls(text, at, out.calls);
      break;
    case tool_call_format::mistral:
      at = text.find(kMistral);
      read = at != std::string::npos && mistral_calls(text, at, out.calls);
      break;
    case tool_call_format::llama3_json: {
      const size_t i = skip_space(text, 0);
      at = 0;
      read = (starts_with(text, i, kPythonTag) || starts_with(text, i, "{")) &&
             llama3_calls(text, out.calls);
      break;
    }
    case tool_call_format::none:
      break;
  }
  if (!read) {
    out.calls.clear();
    out.content = text;
    return out;
  }
  out.content = text.substr(0, at);
  return out;
}

std::string tool_call_stream::feed(const std::string& piece) {
  text_ += piece;
  if (held_) return {};
  const std::string_view t = text_;
  if (format_ == tool_call_format::llama3_json && !plain_) {
    // Decided by the answer's start: a call ("{" or the tag after any space), or all content.
    const size_t i = skip_space(t, 0);
    if (i == t.size() ||
        (t.size() - i < kPythonTag.size() && kPythonTag.substr(0, t.size() - i) == t.substr(i)))
      return {};
    held_ = t[i] == '{' || starts_with(t, i, kPythonTag);
    if (held_) return {};
    plain_ = true;
  }
  if (format_ == tool_call_format::none || plain_) {
    std::string out = text_.substr(sent_);
    sent_ = text_.size();
    return out;
  }
  const std::string_view marker = format_ == tool_call_format::hermes ? kHermesOpen : kMistral;
  size_t upto = t.find(marker, sent_);  // (no marker starts in what went out)
  if (upto != std::string_view::npos)
    held_ = true;
  else
    upto = t.size() - partial_marker(t.substr(sent_), marker);
  std::string out = text_.substr(sent_, upto - sent_);
  sent_ = upto;
  return out;
}

parsed_answer tool_call_stream::finish() {
  parsed_answer out;
  if (held_) {
    out = parse_tool_calls(format_, text_);
    if (!out.calls.empty()) {
      out.content.clear();  // (what came before the calls went out already)
      return out;
    }
  }
  out.content = text_.substr(sent_);
  return out;
}

}  // namespace kaito::api
