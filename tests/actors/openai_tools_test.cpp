// The inference routes' tool_choice "auto" on the tiny chat model (CPU engine): refused without
// a tool call format; with one, calls the model wrote become message.tool_calls (finish_reason
// "tool_calls"), streamed as tool_calls deltas, and an answer without calls is the same text as
// with tool_choice "none". Also: the ids a format needs, and special tokens a parser's markers
// keep in the answer's text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/inference_reply.h"
#include "actors/inference_routes.h"
#include "engine/chat_service.h"
#include "tests/actors/captured_reply.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::actors {
namespace {

using json = nlohmann::json;

using captured = testing::captured_reply;

class OpenaiTools : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::chat_service_config c;
    c.model_dir = testing::tiny_chat_model_folder("openai-tools");
    auto s = engine::chat_service::load(c);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    svc_ = std::move(*s).release();
  }
  static void TearDownTestSuite() {
    delete svc_;
    svc_ = nullptr;
  }
  static captured post(api::tool_call_format f, const json& body,
                       const std::string& path = "/v1/chat/completions") {
    captured out;
    inference_routes(*svc_, "tiny", f)({"POST", path, path, "", "", body.dump()}, out);
    return out;
  }
  // The data events of a stream.
  static std::vector<json> events(const std::string& body) {
    std::vector<json> out;
    size_t at = 0;
    while ((at = body.find("data: ", at)) != std::string::npos) {
      const size_t end = body.find("\n\n", at);
      const std::string data = body.substr(at + 6, end - at - 6);
      if (data != "[DONE]") out.push_back(json::parse(data));
      at = end;
    }
    return out;
  }
  static engine::chat_service* svc_;
};
engine::chat_service* OpenaiTools::svc_ = nullptr;

const json kTools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
    "parameters": {"type": "object", "properties": {"days": {"type": "integer", "minimum": 1,
    "maximum": 7}}, "required": ["days"], "additionalProperties": false}}}])");

json request(const json& extra = json::object()) {
  json r = {{"messages", {{{"role", "user"}, {"content", "Color of the sky?"}}}},
            {"max_tokens", 60},
            {"temperature", 0},
            {"tools", kTools}};
  r.update(extra);
  return r;
}

TEST_F(OpenaiTools, AutoNeedsAFormat) {
  const captured out = post(api::tool_call_format::none, request());
  EXPECT_EQ(out.status, 501);
  const json e = json::parse(out.body)["error"];
  EXPECT_EQ(e["param"], "tool_choice");
  EXPECT_NE(e["message"].get<std::string>().find("--tool-call-parser"), std::string::npos);
  // "none" and forced calls do not need one
  EXPECT_EQ(post(api::tool_call_format::none, request({{"tool_choice", "none"}})).status, 200);
}

// llama3_json reads a whole answer that is {"name", "parameters"}: a response_format holds the
// tiny model's answer to that shape, so the calls come from the model's own text.
TEST_F(OpenaiTools, CallsTheModelWroteBecomeToolCalls) {
  const json shape = {{"type", "object"},
                      {"properties",
                       {{"name", {{"enum", {"get_weather"}}}},
                        {"parameters", kTools[0]["function"]["parameters"]}}},
                      {"required", {"name", "parameters"}},
                      {"additionalProperties", false}};
  const json body = request(
      {{"max_tokens", 200},
       {"response_format",
        {{"type", "json_schema"}, {"json_schema", {{"name", "call"}, {"schema", shape}}}}}});
  const captured out = post(api::tool_call_format::llama3_json, body);
  ASSERT_EQ(out.status, 200) << out.body;
  const json choice = json::parse(out.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls") << out.body;
  EXPECT_TRUE(choice["message"]["content"].is_null()) << out.body;
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << out.body;
  const json call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["id"].get<std::string>().rfind("chatcmpl-tool-", 0), 0u);
  const json args = json::parse(call["function"]["arguments"].get<std::string>());
  ASSERT_TRUE(args["days"].is_number_integer()) << args;
  EXPECT_GE(args["days"].get<int>(), 1);
  EXPECT_LE(args["days"].get<int>(), 7);

  json streamed = body;
  streamed["stream"] = true;
  const captured s = post(api::tool_call_format::llama3_json, streamed);
  ASSERT_EQ(s.status, 200);
  std::string name, arguments, reason;
  for (const json& e : events(s.body)) {
    const json& d = e["choices"][0]["delta"];
    EXPECT_FALSE(d.contains("content")) << e;  // (all of it was the call)
    if (d.contains("tool_calls")) {
      const json& tc = d["tool_calls"][0];
      if (tc.contains("id")) name = tc["function"]["name"];
      arguments += tc["function"]["arguments"].get<std::string>();
    }
    if (!e["choices"][0]["finish_reason"].is_null()) reason = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(arguments), args);
  EXPECT_EQ(reason, "tool_calls");
}

// The same through the Responses API: its flat tools, the call as a function_call output item,
// streamed as its events; a named tool_choice streams the arguments as they come.
TEST_F(OpenaiTools, ResponsesCallsAreFunctionCallItems) {
  json tool = kTools[0]["function"];
  tool["type"] = "function";
  const json shape = {
      {"type", "object"},
      {"properties", {{"name", {{"const", "get_weather"}}}, {"parameters", tool["parameters"]}}},
      {"required", {"name", "parameters"}},
      {"additionalProperties", false}};
  json body = {{"input", "Color of the sky?"},
               {"temperature", 0},
               {"max_output_tokens", 200},
               {"tools", {tool}},
               {"text", {{"format", {{"type", "json_schema"}, {"name", "c"}, {"schema", shape}}}}}};
  const captured out = post(api::tool_call_format::llama3_json, body, "/v1/responses");
  ASSERT_EQ(out.status, 200) << out.body;
  const json r = json::parse(out.body);
  ASSERT_EQ(r["output"].size(), 1u) << out.body;
  const json item = r["output"][0];
  EXPECT_EQ(item["type"], "function_call");
  EXPECT_EQ(item["name"], "get_weather");
  EXPECT_EQ(r["tools"][0]["name"], "get_weather");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_NO_THROW(json::parse(item["arguments"].get<std::string>()));

  body["stream"] = true;
  const captured s = post(api::tool_call_format::llama3_json, body, "/v1/responses");
  std::vector<std::string> types;
  json last;
  for (const json& e : events(s.body)) {
    types.push_back(e["type"]);
    last = e;
  }
  ASSERT_FALSE(types.empty()) << s.body;
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.output_text.delta"), 0) << s.body;
  EXPECT_EQ(types.back(), "response.completed");
  EXPECT_EQ(last["response"]["output"][0]["arguments"], item["arguments"]);

  json named = {{"input", "Color of the sky?"},
                {"temperature", 0},
                {"stream", true},
                {"tools", {tool}},
                {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}}};
  const captured n = post(api::tool_call_format::none, named, "/v1/responses");
  std::string arguments;
  for (const json& e : events(n.body)) {
    if (e["type"] == "response.function_call_arguments.delta") arguments += e["delta"];
    if (e["type"] == "response.completed") last = e;
  }
  EXPECT_EQ(last["response"]["output"][0]["arguments"], arguments) << n.body;
  const json args = json::parse(arguments);
  EXPECT_TRUE(args["days"].is_number_integer()) << arguments;
}

TEST_F(OpenaiTools, AnAnswerWithoutCallsIsText) {
  const captured none = post(api::tool_call_format::hermes, request({{"tool_choice", "none"}}));
  ASSERT_EQ(none.status, 200) << none.body;
  const json want = json::parse(none.body)["choices"][0]["message"]["content"];
  ASSERT_FALSE(want.get<std::string>().empty()) << none.body;
  const captured a = post(api::tool_call_format::hermes, request());
  ASSERT_EQ(a.status, 200) << a.body;
  const json choice = json::parse(a.body)["choices"][0];
  EXPECT_EQ(choice["message"]["content"], want);
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
  EXPECT_NE(choice["finish_reason"], "tool_calls");
  const captured s = post(api::tool_call_format::hermes, request({{"stream", true}}));
  std::string text;
  for (const json& e : events(s.body))
    if (e["choices"][0]["delta"].contains("content"))
      text += e["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_EQ(text, want.get<std::string>());
}

TEST_F(OpenaiTools, KeepSpecialKeepsAParsersMarkers) {
  engine::chat_options o;
  o.max_tokens = 2;
  o.sampling.logit_bias = {{5, 100.0f}};  // <|system|>, a special token that ends nothing
  const json msgs = json::parse(R"([{"role": "user", "content": "hi"}])");
  auto skipped = svc_->chat(msgs, o);
  ASSERT_TRUE(skipped.ok()) << skipped.error().to_string();
  EXPECT_EQ(skipped->text, "");
  o.keep_special = {"<|system|>", "<|not a token|>"};
  auto kept = svc_->chat(msgs, o);
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  EXPECT_EQ(kept->text, "<|system|><|system|>");
}

TEST(ToolCallIds, EachFormatsIds) {
  const std::string m = tool_call_id(api::tool_call_format::mistral);
  ASSERT_EQ(m.size(), 9u);  // the mistral template's rule
  for (char c : m) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << m;
  EXPECT_NE(tool_call_id(api::tool_call_format::mistral), m);
  EXPECT_EQ(tool_call_id(api::tool_call_format::hermes).rfind("chatcmpl-tool-", 0), 0u);
  // a forced call's answer is the calls alone (content null); auto keeps the text before them
  api::chat_params named;
  named.tool_call = "named";
  named.tool_name = "f";
  api::chat_result r{"{\"a\": 1}", 1, 1, "stop"};
  attach_tool_calls(named, api::tool_call_format::none, r);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(r.finish_reason, "stop");
  api::chat_params automatic;
  automatic.tool_call = "auto";
  api::chat_result h{"Let me see. <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", 1,
                     1, "stop"};
  attach_tool_calls(automatic, api::tool_call_format::hermes, h);
  ASSERT_EQ(h.tool_calls.size(), 1u);
  EXPECT_EQ(h.text, "Let me see. ");
  EXPECT_EQ(h.finish_reason, "tool_calls");
  api::chat_result cut = h;
  cut.tool_calls.clear();
  cut.text = "<tool_call>{\"name\": \"f\", \"arguments\": {}}";
  cut.finish_reason = "length";
  attach_tool_calls(automatic, api::tool_call_format::hermes, cut);
  EXPECT_EQ(cut.tool_calls.size(), 1u);
  EXPECT_EQ(cut.finish_reason, "length");
}

}  // namespace
}  // namespace kaito::actors
