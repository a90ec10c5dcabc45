// tool_call_parser: each format's calls and content as vLLM's parsers of the same names read
// them, the detection from the presets' chat templates, and the stream equal to the whole text
// however the answer is cut into pieces.
#include "protocol/api/tool_call_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "presets/builtin_chat_templates.h"

namespace kaito::api {
namespace {

using F = tool_call_format;

struct call_text {
  std::string name, arguments;
};

std::vector<call_text> calls_of(const parsed_answer& a) {
  std::vector<call_text> out;
  for (const tool_call& c : a.calls) {
    EXPECT_TRUE(c.id.empty());
    out.push_back({c.name, c.arguments});
  }
  return out;
}

bool operator==(const call_text& a, const call_text& b) {
  return a.name == b.name && a.arguments == b.arguments;
}

void PrintTo(const call_text& c, std::ostream* os) {
  *os << c.name << "(" << c.arguments << ")";
}

struct row {
  F format;
  std::string text;
  std::string content;  // expected
  std::vector<call_text> calls;
};

// A call whose arguments hold n arrays one in the other (the whole nests n + 2 deep).
std::string nested_call(size_t n) {
  return "<tool_call>{\"name\":\"a\",\"arguments\":{\"x\":" + std::string(n, '[') +
         std::string(n, ']') + "}}</tool_call>";
}

const std::vector<row>& rows() {
  static const std::vector<row> r = {
      // hermes: content before the first tag; each tag's JSON; an unclosed last tag
      {F::hermes,
       "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
       "\"Paris\"}}\n</tool_call>",
       "Sure.\n",
       {{"get_weather", "{\"city\":\"Paris\"}"}}},
      {F::hermes,
       "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>"
       "{\"name\":\"b\",\"arguments\":{\"x\":[1,2]}}</tool_call>",
       "",
       {{"a", "{}"}, {"b", "{\"x\":[1,2]}"}}},
      {F::hermes,
       "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": \"</tool\"}}",
       "",
       {{"a", "{\"q\":\"</tool\"}"}}},
      {F::hermes,
       "<tool_call>{\"name\":\"a\",\"arguments\":\"{\\\"k\\\": 1}\"}</tool_call>",
       "",
       {{"a", "{\"k\":1}"}}},  // arguments as text
      {F::hermes, "no call here, <tool but not a tag", "no call here, <tool but not a tag", {}},
      {F::hermes,
       "x <tool_call>{\"name\": \"a\"}</tool_call>",
       "x <tool_call>{\"name\": \"a\"}</tool_call>",
       {}},  // no arguments: all content
      {F::hermes,
       "<tool_call>{\"name\": \"a\", \"arguments\": {}</tool_call>",
       "<tool_call>{\"name\": \"a\", \"arguments\": {}</tool_call>",
       {}},  // bad JSON
      {F::hermes, "<tool_call>", "<tool_call>", {}},
      {F::hermes, nested_call(63), nested_call(63), {}},  // nested 65 deep: no call
      {F::hermes,
       nested_call(62),
       "",
       {{"a", "{\"x\":" + std::string(62, '[') + std::string(62, ']') + "}"}}},  // 64: a call
      {F::hermes, "ends in <tool_", "ends in <tool_", {}},
      // llama3_json: the whole answer is calls
      {F::llama3_json,
       "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}",
       "",
       {{"f", "{\"a\":1}"}}},
      {F::llama3_json,
       "\n {\"name\": \"f\", \"arguments\": {}}; {\"name\": \"g\", "
       "\"parameters\": {\"s\": \"};{\"}}\n",
       "",
       {{"f", "{}"}, {"g", "{\"s\":\"};{\"}"}}},
      {F::llama3_json,
       "The answer is {\"name\": \"f\", \"parameters\": {}}",
       "The answer is {\"name\": \"f\", \"parameters\": {}}",
       {}},
      {F::llama3_json,
       "{\"name\": \"f\", \"parameters\": {}} and then text",
       "{\"name\": \"f\", \"parameters\": {}} and then text",
       {}},
      {F::llama3_json,
       "{\"name\": 3, \"parameters\": {}}",
       "{\"name\": 3, \"parameters\": {}}",
       {}},
      {F::llama3_json,
       "{\"name\": \"f\", \"parameters\": {",
       "{\"name\": \"f\", \"parameters\": {",
       {}},
      {F::llama3_json, "<|python", "<|python", {}},
      {F::llama3_json, "  ", "  ", {}},
      // mistral: content before the marker, then an array (or one object)
      {F::mistral,
       "[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}]",
       "",
       {{"add", "{\"a\":1,\"b\":2}"}}},
      {F::mistral,
       "Let me add.[TOOL_CALLS][{\"name\":\"add\",\"arguments\":{}},{\"name\":\"sub\","
       "\"arguments\":{\"x\":\"[TOOL_CALLS]\"}}]",
       "Let me add.",
       {{"add", "{}"}, {"sub", "{\"x\":\"\"}"}}},  // (vLLM drops every marker)
      {F::mistral, "[TOOL_CALLS] {\"name\": \"one\", \"arguments\": {}}", "", {{"one", "{}"}}},
      {F::mistral,
       "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {}}] trailing words",
       "",
       {{"a", "{}"}}},  // vLLM's fallback: the span "[{" .. "}]"
      {F::mistral, "[TOOL_CALLS] not json", "[TOOL_CALLS] not json", {}},
      {F::mistral, "[TOOL", "[TOOL", {}},
      {F::none,
       "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>",
       "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>",
       {}},
  };
  return r;
}

TEST(ToolCallParser, ReadsEachFormatAsVllm) {
  for (const row& r : rows()) {
    SCOPED_TRACE(std::string(tool_call_format_name(r.format)) + ": " + r.text);
    const parsed_answer a = parse_tool_calls(r.format, r.text);
    EXPECT_EQ(a.content, r.content);
    EXPECT_EQ(calls_of(a), r.calls);
  }
}

// Content streamed plus what finish() gives equals the whole text's answer, for every cut of the
// text into two or three pieces and for random cuts.
TEST(ToolCallParser, StreamEqualsTheWholeText) {
  std::mt19937 rng(7);
  for (const row& r : rows()) {
    SCOPED_TRACE(std::string(tool_call_format_name(r.format)) + ": " + r.text);
    const size_t n = r.text.size();
    auto check = [&](const std::vector<size_t>& cuts) {
      tool_call_stream s(r.format);
      std::string content;
      size_t from = 0;
      for (size_t c : cuts) {
        content += s.feed(r.text.substr(from, c - from));
        from = c;
      }
      content += s.feed(r.text.substr(from));
      const parsed_answer end = s.finish();
      content += end.content;
      EXPECT_EQ(content, r.content);
      EXPECT_EQ(calls_of(end), r.calls);
    };
    for (size_t i = 0; i <= n; ++i)
      for (size_t j = i; j <= n; j += 3) check({i, j});
    for (int k = 0; k < 50; ++k) {
      std::vector<size_t> cuts;
      for (size_t i = 1; i < n; ++i)
        if (rng() % 4 == 0) cuts.push_back(i);
      check(cuts);
    }
  }
}

// Content flows as it comes: nothing waits but what may be the start of a marker.
TEST(ToolCallParser, StreamHoldsOnlyWhatMayBeAMarker) {
  tool_call_stream h(F::hermes);
  EXPECT_EQ(h.feed("Hello"), "Hello");
  EXPECT_EQ(h.feed(" <to"), " ");
  EXPECT_EQ(h.feed("p>"), "<top>");
  EXPECT_EQ(h.feed(" <tool_call>{\"name\""), " ");
  EXPECT_EQ(h.feed(": \"f\", \"arguments\": {}}</tool_call>"), "");
  const parsed_answer a = h.finish();
  EXPECT_EQ(a.content, "");
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "f");

  tool_call_stream l(F::llama3_json);
  EXPECT_EQ(l.feed("  "), "");
  EXPECT_EQ(l.feed("<|py"), "");
  EXPECT_EQ(l.feed("thon is a language"), "  <|python is a language");
  EXPECT_EQ(l.feed(" {\"a\": 1}"), " {\"a\": 1}");
  EXPECT_TRUE(l.finish().calls.empty());

  tool_call_stream m(F::mistral);
  EXPECT_EQ(m.feed("ok [TOOL"), "ok ");
  EXPECT_EQ(m.feed("S] fine"), "[TOOLS] fine");
}

TEST(ToolCallParser, DetectsThePresetTemplatesFormats) {
  const std::vector<std::pair<std::string, F>> want = {
      {"chatml", F::hermes}, {"mistral", F::mistral}, {"llama-3", F::llama3_json},
      {"phi-3", F::none},    {"phi-4", F::none},      {"phi-4-mini", F::none},
      {"falcon", F::none}};
  for (const auto& [name, f] : want) {
    auto t = presets::builtin_chat_template(name);
    ASSERT_TRUE(t.has_value()) << name;
    EXPECT_EQ(detect_tool_call_format(*t), f) << name;
  }
}

TEST(ToolCallParser, NamesAndMarkers) {
  for (F f : {F::none, F::hermes, F::llama3_json, F::mistral}) {
    auto back = tool_call_format_named(tool_call_format_name(f), "--tool-call-parser");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, f);
  }
  auto bad = tool_call_format_named("pythonic", "--tool-call-parser");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "--tool-call-parser");
  EXPECT_NE(bad.error().message().find("hermes, llama3_json, mistral, none"), std::string::npos);
  EXPECT_EQ(tool_call_markers(F::mistral), std::vector<std::string>{"[TOOL_CALLS]"});
  EXPECT_TRUE(tool_call_markers(F::llama3_json).empty());
  EXPECT_TRUE(tool_call_markers(F::none).empty());
}

}  // namespace
}  // namespace kaito::api
