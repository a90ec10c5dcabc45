// response_store: stored responses by id, replaced, erased, and the oldest dropped past the count
// or byte budget; one larger than the whole budget is not kept; safe from several threads.
#include "actors/response_store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kaito::actors {
namespace {

response_store::entry entry_of(const std::string& body) {
  return {body, nlohmann::ordered_json::array({{{"role", "user"}, {"content", body}}})};
}

TEST(ResponseStore, KeepsReplacesAndErases) {
  response_store s;
  EXPECT_FALSE(s.get("resp_a"));
  s.put("resp_a", entry_of("one"));
  ASSERT_TRUE(s.get("resp_a"));
  EXPECT_EQ(s.get("resp_a")->body, "one");
  EXPECT_EQ(s.get("resp_a")->history[0]["content"], "one");
  s.put("resp_a", entry_of("two"));
  EXPECT_EQ(s.get("resp_a")->body, "two");
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(s.erase("resp_a"));
  EXPECT_FALSE(s.erase("resp_a"));
  EXPECT_FALSE(s.get("resp_a"));
}

// An item_reference's lookup: any stored conversation's item by id, the newest response first.
TEST(ResponseStore, FindsStoredItemsById) {
  using ojson = nlohmann::ordered_json;
  response_store s;
  s.put("resp_1", {"{}", ojson::array({{{"id", "msg_1_0"}, {"content", "old"}},
                                       {{"id", "msg_x"}, {"content", "first"}}})});
  s.put("resp_2", {"{}", ojson::array({{{"id", "msg_x"}, {"content", "second"}}, "not an item"})});
  ASSERT_TRUE(s.find_item("msg_1_0"));
  EXPECT_EQ((*s.find_item("msg_1_0"))["content"], "old");
  EXPECT_EQ((*s.find_item("msg_x"))["content"], "second");
  EXPECT_FALSE(s.find_item("msg_none"));
  s.erase("resp_1");
  EXPECT_FALSE(s.find_item("msg_1_0"));
}

TEST(ResponseStore, DropsTheOldestPastItsLimits) {
  response_store by_count(3);
  for (int i = 0; i < 5; ++i) by_count.put("resp_" + std::to_string(i), entry_of("x"));
  EXPECT_EQ(by_count.size(), 3u);
  EXPECT_FALSE(by_count.get("resp_1"));
  EXPECT_TRUE(by_count.get("resp_2"));
  EXPECT_TRUE(by_count.get("resp_4"));

  response_store by_bytes(100, 1000);
  const std::string big(300, 'b');
  for (int i = 0; i < 5; ++i) by_bytes.put("resp_" + std::to_string(i), entry_of(big));
  EXPECT_EQ(by_bytes.size(), 1u);  // each entry holds the body twice (body + history): > 600 B
  EXPECT_TRUE(by_bytes.get("resp_4"));
  by_bytes.put("resp_huge", entry_of(std::string(2000, 'h')));
  EXPECT_FALSE(by_bytes.get("resp_huge"));
  EXPECT_TRUE(by_bytes.get("resp_4")) << "a response too large to keep drops nothing";
}

TEST(ResponseStore, ManyThreads) {
  response_store s(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&s, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string id = "resp_" + std::to_string(t) + "_" + std::to_string(i % 80);
        s.put(id, entry_of(id));
        if (auto e = s.get(id)) EXPECT_EQ(e->body, id);
        if (i % 7 == 0) s.erase(id);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(s.size(), 64u);
}

}  // namespace
}  // namespace kaito::actors
