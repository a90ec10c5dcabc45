// The Responses API's conversation state: store / previous_response_id read from a request, the
// stored history put before a new input, and the history a response leaves, read back by
// parse_responses_request as the same conversation.
#include "protocol/api/responses_state.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/api/responses_api.h"

namespace kaito::api {
namespace {

using ojson = nlohmann::ordered_json;

TEST(ResponsesState, ReadsStoreAndPreviousId) {
  auto s = read_responses_state(R"({"input":"x"})");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->store);
  EXPECT_EQ(s->previous_response_id, "");
  s = read_responses_state(R"({"input":"x","store":false,"previous_response_id":"resp_ab"})");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->store);
  EXPECT_EQ(s->previous_response_id, "resp_ab");
  for (const char* bad : {R"({"previous_response_id":7})", R"({"previous_response_id":"msg_1"})"}) {
    auto e = read_responses_state(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().where(), "previous_response_id");
  }
  EXPECT_EQ(read_responses_state(R"({"store":"yes"})").error().where(), "store");
  EXPECT_EQ(read_responses_state("{").error().where(), "byte 1");
}

TEST(ResponsesState, ATurnContinuesTheStoredConversation) {
  // Turn 1 and its response: a message and a function call.
  const std::string first = R"({"model":"m","instructions":"be brief","input":"weather?"})";
  const ojson response = {
      {"id", "resp_1"},
      {"object", "response"},
      {"output",
       {{{"type", "message"},
         {"id", "msg_1"},
         {"status", "completed"},
         {"role", "assistant"},
         {"content", {{{"type", "output_text"}, {"text", "Let me look."}, {"annotations", {}}}}}},
        {{"type", "function_call"},
         {"id", "fc_1_0"},
         {"call_id", "call_7"},
         {"name", "get_weather"},
         {"arguments", R"({"city":"Oslo"})"},
         {"status", "completed"}}}}};
  auto history = responses_history_after(first, response.dump());
  ASSERT_TRUE(history.ok()) << history.error().to_string();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0]["role"], "user");
  EXPECT_EQ((*history)[0]["content"], "weather?");
  EXPECT_EQ((*history)[0]["id"], "msg_1_0");  // the request's items get ids
  EXPECT_EQ((*history)[1]["id"], "msg_1");    // the response's keep theirs
  EXPECT_EQ((*history)[2]["type"], "function_call");

  // Turn 2 gives the tool's output with previous_response_id: one conversation, the earlier
  // instructions not carried over (OpenAI's rule), this turn's kept.
  const std::string second =
      R"({"model":"m","previous_response_id":"resp_1","instructions":"use Celsius",
          "input":[{"type":"function_call_output","call_id":"call_7","output":"3 C"}]})";
  auto merged = responses_body_with_history(second, *history);
  ASSERT_TRUE(merged.ok()) << merged.error().to_string();
  const ojson m = ojson::parse(*merged);
  EXPECT_FALSE(m.contains("previous_response_id"));
  EXPECT_EQ(m["input"].size(), 4u);
  auto req = parse_responses_request(*merged);
  ASSERT_TRUE(req.ok()) << req.error().to_string();
  const ojson& msgs = req->messages;
  ASSERT_EQ(msgs.size(), 4u) << msgs.dump();
  EXPECT_EQ(msgs[0]["role"], "system");
  EXPECT_EQ(msgs[0]["content"], "use Celsius");
  EXPECT_EQ(msgs[1]["role"], "user");
  EXPECT_EQ(msgs[2]["role"], "assistant");
  EXPECT_EQ(msgs[2]["content"], "Let me look.");
  EXPECT_EQ(msgs[2]["tool_calls"][0]["id"], "call_7");
  EXPECT_EQ(msgs[2]["tool_calls"][0]["function"]["arguments"], ojson({{"city", "Oslo"}}));
  EXPECT_EQ(msgs[3]["role"], "tool");
  EXPECT_EQ(msgs[3]["tool_call_id"], "call_7");

  // Its history: everything so far, then what turn 2 answers.
  auto next = responses_history_after(*merged, R"({"id":"resp_2","output":[]})");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->size(), 4u);
  EXPECT_EQ((*next)[0]["id"], "msg_1_0");   // stored ids stay
  EXPECT_EQ((*next)[3]["id"], "item_2_3");  // the new function_call_output
}

TEST(ResponsesState, AStringInputIsOneUserMessage) {
  const ojson history =
      ojson::array({{{"type", "message"}, {"role", "user"}, {"content", "hi"}},
                    {{"type", "message"}, {"role", "assistant"}, {"content", "hello"}}});
  auto merged =
      responses_body_with_history(R"({"input":"again","previous_response_id":"resp_9"})", history);
  ASSERT_TRUE(merged.ok());
  const ojson m = ojson::parse(*merged);
  ASSERT_EQ(m["input"].size(), 3u);
  EXPECT_EQ(m["input"][2], ojson({{"type", "message"}, {"role", "user"}, {"content", "again"}}));
  for (const char* bad :
       {R"({"previous_response_id":"resp_9"})", R"({"input":[]})", R"({"input":5})"}) {
    auto e = responses_body_with_history(bad, history);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().where(), "input");
  }
  EXPECT_FALSE(responses_history_after(R"({"input":"x"})", "not json").ok());
}

// item_reference input items are replaced by the stored items they name; an unknown or missing id
// is 400 naming input[i].id; a body without references is unchanged.
TEST(ResponsesState, ItemReferencesBecomeTheStoredItems) {
  const ojson stored = {
      {"type", "message"}, {"id", "msg_a"}, {"role", "assistant"}, {"content", "hello"}};
  auto find = [&](const std::string& id) -> std::optional<ojson> {
    if (id == "msg_a") return stored;
    return std::nullopt;
  };
  auto out = responses_body_with_references(
      R"({"input":[{"role":"user","content":"hi"},{"type":"item_reference","id":"msg_a"},
          {"role":"user","content":"and?"}]})",
      find);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  const ojson j = ojson::parse(*out);
  ASSERT_EQ(j["input"].size(), 3u);
  EXPECT_EQ(j["input"][1], stored);
  auto req = parse_responses_request(*out);
  ASSERT_TRUE(req.ok()) << req.error().to_string();
  EXPECT_EQ(req->messages[1]["role"], "assistant");
  EXPECT_EQ(req->messages[1]["content"], "hello");
  const std::string plain = R"({"input":"hi"})";
  EXPECT_EQ(responses_body_with_references(plain, find).value(), plain);
  auto unknown = responses_body_with_references(
      R"({"input":[{"role":"user","content":"x"},{"type":"item_reference","id":"msg_zz"}]})", find);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().where(), "input[1].id");
  auto missing = responses_body_with_references(R"({"input":[{"type":"item_reference"}]})", find);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().where(), "input[0].id");
}

}  // namespace
}  // namespace kaito::api
