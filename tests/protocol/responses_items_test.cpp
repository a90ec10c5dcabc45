// GET /v1/responses/{id}/input_items: the query read (limit, order, include, after) and the page
// of a stored response's input items, as OpenAI lists them.
#include "protocol/api/responses_items.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/api/responses_state.h"

namespace kaito::api {
namespace {

using ojson = nlohmann::ordered_json;

TEST(ResponsesItems, ReadsTheQuery) {
  auto q = read_input_items_query({});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limit, 20);
  EXPECT_FALSE(q->ascending);
  EXPECT_EQ(q->after, "");
  q = read_input_items_query({{"limit", "100"},
                              {"order", "asc"},
                              {"after", "msg_1"},
                              {"include[]", "message.input_image.image_url"},
                              {"unknown", "ignored"}});
  ASSERT_TRUE(q.ok()) << q.error().to_string();
  EXPECT_EQ(q->limit, 100);
  EXPECT_TRUE(q->ascending);
  EXPECT_EQ(q->after, "msg_1");
  const std::map<std::string, std::map<std::string, std::string>> bad = {
      {"limit", {{"limit", "0"}}},
      {"limit", {{"limit", "101"}}},
      {"limit", {{"limit", "2x"}}},
      {"order", {{"order", "newest"}}},
      {"include", {{"include", "everything"}}}};
  for (const auto& [where, query] : bad) {
    auto e = read_input_items_query(query);
    ASSERT_FALSE(e.ok()) << where;
    EXPECT_EQ(e.error().where(), where);
  }
}

// Two turns: the second response's items are the first turn's input and output, then its own
// input; its own output is not among them.
TEST(ResponsesItems, PagesTheConversationBeforeTheOutput) {
  const std::string first = R"({"model":"m","input":"hi"})";
  const std::string first_response =
      R"({"id":"resp_a","output":[{"type":"message","id":"msg_a","status":"completed",
          "role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[]}]}]})";
  auto h1 = responses_history_after(first, first_response);
  ASSERT_TRUE(h1.ok());
  auto second = responses_body_with_history(
      R"({"model":"m","input":[{"role":"user","content":"again"},
          {"type":"message","role":"assistant","content":"sure"},
          {"role":"user","content":[{"type":"input_text","text":"more"}]}]})",
      *h1);
  ASSERT_TRUE(second.ok());
  const std::string second_response =
      R"({"id":"resp_b","output":[{"type":"message","id":"msg_b","status":"completed",
          "role":"assistant","content":[{"type":"output_text","text":"ok","annotations":[]}]}]})";
  auto h2 = responses_history_after(*second, second_response);
  ASSERT_TRUE(h2.ok());
  ASSERT_EQ(h2->size(), 6u);

  auto all = responses_input_items_body(*h2, second_response, {"", 20, true});
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  const ojson page = ojson::parse(*all);
  EXPECT_EQ(page["object"], "list");
  ASSERT_EQ(page["data"].size(), 5u) << page.dump();
  EXPECT_EQ(page["data"][0]["id"], "msg_a_0");
  EXPECT_EQ(page["data"][0]["type"], "message");
  EXPECT_EQ(page["data"][0]["status"], "completed");
  EXPECT_EQ(page["data"][0]["content"], ojson::parse(R"([{"type":"input_text","text":"hi"}])"));
  EXPECT_EQ(page["data"][1]["id"], "msg_a");
  EXPECT_EQ(page["data"][2]["id"], "msg_b_2");
  EXPECT_EQ(page["data"][3]["content"][0]["type"], "output_text");  // an assistant's string
  EXPECT_EQ(page["data"][4]["content"],
            ojson::parse(R"([{"type":"input_text","text":"more"}])"));  // parts kept
  EXPECT_EQ(page["first_id"], "msg_a_0");
  EXPECT_EQ(page["last_id"], "msg_b_4");
  EXPECT_EQ(page["has_more"], false);

  // desc (the default) two at a time, each page after the last one's last id.
  std::vector<std::string> ids;
  std::string after;
  for (int pages = 0; pages < 5; ++pages) {
    auto body = responses_input_items_body(*h2, second_response, {after, 2, false});
    ASSERT_TRUE(body.ok()) << body.error().to_string();
    const ojson p = ojson::parse(*body);
    for (const auto& item : p["data"]) ids.push_back(item["id"]);
    if (!p["has_more"].get<bool>()) break;
    after = p["last_id"];
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"msg_b_4", "msg_b_3", "msg_b_2", "msg_a", "msg_a_0"}));

  auto past = responses_input_items_body(*h2, second_response, {"msg_a_0", 20, false});
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(ojson::parse(*past)["data"].size(), 0u);
  EXPECT_TRUE(ojson::parse(*past)["first_id"].is_null());
  auto unknown = responses_input_items_body(*h2, second_response, {"msg_zz", 20, false});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().where(), "after");
}

}  // namespace
}  // namespace kaito::api
