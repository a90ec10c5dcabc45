// The Responses API's function tools: flat tools and tool_choice read as chat's (errors naming
// the Responses fields), function_call / function_call_output input items as chat's assistant
// tool_calls and tool messages, the request's tools repeated in the response, and calls as
// function_call output items, in the body and in the stream's events.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/api/responses_api.h"

namespace kaito::api {
namespace {

using ojson = nlohmann::ordered_json;

const char* kTools = R"("tools":[{"type":"function","name":"get_weather","description":"d",
    "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
    {"type":"function","name":"now"}])";

TEST(ResponsesTools, ReadAsChatTools) {
  responses_echo echo;
  auto r = parse_responses_request(
      std::string(R"({"input":"weather?",)") + kTools +
          R"(,"tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false})",
      &echo);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->params.tool_call, "named");
  EXPECT_EQ(r->params.tool_name, "get_weather");
  EXPECT_EQ(r->params.json_schema_where, "tools[0].parameters");  // (the flat path)
  ASSERT_EQ(r->tools.size(), 2u);                                 // chat's shape, for the template
  EXPECT_EQ(r->tools[0]["function"]["name"], "get_weather");
  EXPECT_EQ(r->tools[0]["function"]["description"], "d");
  EXPECT_EQ(echo.tools.size(), 2u);
  EXPECT_EQ(echo.tools[0]["name"], "get_weather");  // as given
  EXPECT_EQ(echo.tool_choice["name"], "get_weather");
  EXPECT_FALSE(echo.parallel_tool_calls);
  auto automatic = parse_responses_request(std::string(R"({"input":"x",)") + kTools + "}", &echo);
  ASSERT_TRUE(automatic.ok()) << automatic.error().to_string();
  EXPECT_EQ(automatic->params.tool_call, "auto");
  EXPECT_EQ(echo.tool_choice, "auto");
  auto required = parse_responses_request(std::string(R"({"input":"x",)") + kTools +
                                          R"(,"tool_choice":"required"})");
  ASSERT_TRUE(required.ok());
  EXPECT_EQ(required->params.tool_call, "required");
  EXPECT_EQ(required->params.tool_schemas[0].second, "tools[0].parameters");
}

TEST(ResponsesTools, CallsAndOutputsInTheInput) {
  auto r = parse_responses_request(R"({"input":[
      {"role":"user","content":"weather in Oslo and the time?"},
      {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
      {"type":"function_call","id":"fc_1","call_id":"c1","name":"get_weather",
       "arguments":"{\"city\":\"Oslo\"}","status":"completed"},
      {"type":"function_call","call_id":"c2","name":"now","arguments":"{}"},
      {"type":"function_call_output","call_id":"c1","output":"sunny"},
      {"type":"function_call_output","call_id":"c2",
       "output":[{"type":"input_text","text":"12:00"}]}]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->messages.size(), 4u) << r->messages.dump();
  const ojson& assistant = r->messages[1];
  EXPECT_EQ(assistant["role"], "assistant");
  EXPECT_EQ(assistant["content"], "Checking.");
  ASSERT_EQ(assistant["tool_calls"].size(), 2u);
  EXPECT_EQ(assistant["tool_calls"][0]["id"], "c1");
  EXPECT_EQ(assistant["tool_calls"][0]["function"]["arguments"]["city"], "Oslo");  // (parsed)
  EXPECT_EQ(assistant["tool_calls"][1]["function"]["name"], "now");
  EXPECT_EQ(r->messages[2], ojson::parse(R"({"role":"tool","content":"sunny",
      "tool_call_id":"c1"})"));
  EXPECT_EQ(r->messages[3]["content"], "12:00");
  // a call with no message before it is an assistant message of its own
  auto alone = parse_responses_request(R"({"input":[{"role":"user","content":"t?"},
      {"type":"function_call","call_id":"c","name":"now","arguments":"{}"}]})");
  ASSERT_TRUE(alone.ok()) << alone.error().to_string();
  EXPECT_EQ(alone->messages[1]["role"], "assistant");
  EXPECT_EQ(alone->messages[1]["content"], "");
}

std::vector<ojson> events_of(const std::string& all) {
  std::vector<ojson> out;
  for (size_t at = 0; (at = all.find("data: ", at)) != std::string::npos;) {
    const size_t end = all.find("\n\n", at);
    out.push_back(ojson::parse(all.substr(at + 6, end - at - 6)));
    at = end;
  }
  return out;
}

std::vector<std::string> types_of(const std::vector<ojson>& events) {
  std::vector<std::string> t;
  for (const ojson& e : events) t.push_back(e["type"]);
  return t;
}

TEST(ResponsesTools, CallsAsOutputItems) {
  responses_ids ids{"r1", "m1", "tiny", 9};
  ids.echo.tools = ojson::parse(R"([{"type":"function","name":"now"}])");
  chat_result res{"Let me look.", 11, 3, "tool_calls"};
  res.tool_calls = {{"call-a", "now", "{}"}, {"call-b", "get_weather", R"({"city":"Oslo"})"}};
  const ojson body = ojson::parse(responses_body(ids, &res));
  ASSERT_EQ(body["output"].size(), 3u) << body.dump();
  EXPECT_EQ(body["output"][0]["type"], "message");
  EXPECT_EQ(body["output"][1], ojson::parse(R"({"type":"function_call","id":"fc_m1_0",
      "call_id":"call-a","name":"now","arguments":"{}","status":"completed"})"));
  EXPECT_EQ(body["output"][2]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["tools"], ids.echo.tools);
  EXPECT_EQ(body["tool_choice"], "auto");
  res.text.clear();  // calls alone: no message
  EXPECT_EQ(ojson::parse(responses_body(ids, &res))["output"][0]["type"], "function_call");

  // streamed: the text first (its message), then each call added, its arguments, done
  responses_stream s(ids);
  std::string all = s.start();  // (one by one: each event takes the next number)
  all += s.delta("Let me look.");
  res.text = "Let me look.";
  all += s.finish(res);
  const std::vector<ojson> events = events_of(all);
  EXPECT_EQ(
      types_of(events),
      (std::vector<std::string>{
          "response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.output_text.delta", "response.output_text.done",
          "response.content_part.done", "response.output_item.done", "response.output_item.added",
          "response.function_call_arguments.delta", "response.function_call_arguments.done",
          "response.output_item.done", "response.output_item.added",
          "response.function_call_arguments.delta", "response.function_call_arguments.done",
          "response.output_item.done", "response.completed"}));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["sequence_number"], i);
  EXPECT_EQ(events[8]["output_index"], 1);
  EXPECT_EQ(events[8]["item"]["status"], "in_progress");
  EXPECT_EQ(events[14]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(events[15]["item"]["id"], "fc_m1_1");
  EXPECT_EQ(events[16]["response"]["output"].size(), 3u);

  // a named call streams its arguments as they come; no message
  responses_stream named(ids);
  chat_result call{"", 11, 3, "stop"};
  call.tool_calls = {{"call-n", "get_weather", R"({"city":"Oslo"})"}};
  std::string n = named.start();
  n += named.call_begin({"call-n", "get_weather", ""});
  n += named.call_delta(R"({"city":)");
  n += named.call_delta(R"("Oslo"})");
  n += named.finish(call);
  const std::vector<ojson> ne = events_of(n);
  EXPECT_EQ(types_of(ne),
            (std::vector<std::string>{
                "response.created", "response.in_progress", "response.output_item.added",
                "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.output_item.done",
                "response.completed"}));
  EXPECT_EQ(ne[2]["item"]["name"], "get_weather");
  EXPECT_EQ(ne[3]["item_id"], "fc_m1_0");
  EXPECT_EQ(ne[5]["arguments"], R"({"city":"Oslo"})");
  EXPECT_EQ(ne[7]["response"]["output"][0]["call_id"], "call-n");
}

}  // namespace
}  // namespace kaito::api
