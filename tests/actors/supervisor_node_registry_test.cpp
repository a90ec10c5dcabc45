// node_registry: admission, refusal of a live name, heartbeat bookkeeping, timeouts on a fake
// clock, loss by handle (incarnations) and re-admission.
#include "actors/node_registry.h"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kaito::actors::heartbeat_outcome;
using kaito::actors::node_registry;
using kaito::actors::steady_time;

kaito::msg::machine_hello hello(const std::string& name) {
  kaito::msg::machine_hello h;
  h.name = name;
  h.resources.slots = 2;
  h.running_pod_uids = {"u1"};
  return h;
}

kaito::msg::machine_heartbeat beat(const std::string& name, uint64_t seq) {
  kaito::msg::machine_heartbeat hb;
  hb.name = name;
  hb.seq = seq;
  hb.busy_slots = 1;
  hb.running_pod_uids = {"u2", "u3"};
  return hb;
}

TEST(node_registry, admits_and_refuses_a_live_name) {
  node_registry reg(5s);
  steady_time t0{};
  auto a = reg.admit(hello("m1"), t0);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(reg.is_ready("m1"));
  EXPECT_EQ(reg.find("m1")->resources.slots, 2u);
  EXPECT_EQ(reg.find("m1")->running_pod_uids.count("u1"), 1u);
  auto again = reg.admit(hello("m1"), t0 + 1s);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), kaito::status_code::already_exists);
  EXPECT_FALSE(reg.admit(hello(""), t0).ok());
}

TEST(node_registry, heartbeats_keep_a_machine_ready_and_silence_expires_it_once) {
  node_registry reg(5s);
  steady_time t{};
  ASSERT_TRUE(reg.admit(hello("m1"), t).ok());
  ASSERT_TRUE(reg.admit(hello("m2"), t).ok());
  for (int i = 1; i <= 10; ++i) {
    t += 1s;
    EXPECT_EQ(reg.heartbeat(beat("m1", i), t), heartbeat_outcome::ok);
    auto lost = reg.expire(t);
    if (i < 6) EXPECT_TRUE(lost.empty()) << i;
    if (i == 6) EXPECT_EQ(lost, std::vector<std::string>{"m2"});
    if (i > 6) EXPECT_TRUE(lost.empty()) << "reported twice at " << i;
  }
  EXPECT_TRUE(reg.is_ready("m1"));
  EXPECT_FALSE(reg.is_ready("m2"));
  EXPECT_NE(reg.find("m2")->lost_reason.find("no heartbeat"), std::string::npos);
  EXPECT_EQ(reg.find("m1")->busy_slots, 1u);
  EXPECT_EQ(reg.find("m1")->running_pod_uids.size(), 2u);
  EXPECT_EQ(reg.find("m1")->last_seq, 10u);
  EXPECT_EQ(reg.ready_names(), std::vector<std::string>{"m1"});
  EXPECT_EQ(reg.heartbeat(beat("nobody", 1), t), heartbeat_outcome::unknown);
}

TEST(node_registry, a_lost_name_is_admitted_again_and_old_handles_cannot_take_it_down) {
  node_registry reg(5s);
  steady_time t{};
  auto first = reg.admit(hello("m1"), t);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(reg.mark_lost("m1", *first, "handle down"));
  EXPECT_FALSE(reg.mark_lost("m1", *first, "handle down")) << "second loss reported";
  EXPECT_FALSE(reg.is_ready("m1"));
  auto second = reg.admit(hello("m1"), t + 1s);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_FALSE(reg.mark_lost("m1", *first, "stale down")) << "old incarnation took it down";
  EXPECT_TRUE(reg.is_ready("m1"));
  // A ready name whose heartbeats stopped past the timeout may be taken over.
  EXPECT_TRUE(reg.admit(hello("m1"), t + 7s).ok());
}

TEST(node_registry, a_heartbeat_revives_a_machine_that_timed_out) {
  node_registry reg(2s);
  steady_time t{};
  ASSERT_TRUE(reg.admit(hello("m1"), t).ok());
  EXPECT_EQ(reg.expire(t + 3s).size(), 1u);
  EXPECT_EQ(reg.heartbeat(beat("m1", 1), t + 4s), heartbeat_outcome::revived);
  EXPECT_TRUE(reg.is_ready("m1"));
  EXPECT_TRUE(reg.find("m1")->lost_reason.empty());
  EXPECT_EQ(reg.heartbeat(beat("m1", 2), t + 5s), heartbeat_outcome::ok);
}

}  // namespace
