// reconcile_queue: controller-runtime's queue semantics as a state machine: coalescing, backoff
// after errors, requeue_after timers, stale timers ignored, counters.
#include "actors/reconcile_queue.h"

#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kaito::actors::reconcile_queue;

TEST(reconcile_queue, triggers_while_running_coalesce_into_one_pending_run) {
  reconcile_queue q;
  EXPECT_TRUE(q.trigger().start);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(q.trigger().start);
  EXPECT_TRUE(q.pending());
  EXPECT_EQ(q.counters().coalesced, 4u);
  auto a = q.done(true, "", 0ms);
  EXPECT_TRUE(a.start) << "the pending trigger must run once";
  EXPECT_LT(a.arm.count(), 0);
  auto b = q.done(true, "", 0ms);
  EXPECT_FALSE(b.start) << "only one pending run";
  EXPECT_FALSE(q.running());
  EXPECT_EQ(q.counters().reconciles, 2u);
  EXPECT_EQ(q.counters().successes, 2u);
}

TEST(reconcile_queue, errors_back_off_exponentially_up_to_the_cap_and_success_resets) {
  reconcile_queue q({.base = 100ms, .max = 1000ms});
  std::vector<long> delays;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(q.trigger().start);
    auto a = q.done(false, "conflict", 0ms);
    EXPECT_FALSE(a.warn_error_and_requeue);
    delays.push_back(a.arm.count());
  }
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(q.failures(), 6u);
  EXPECT_EQ(q.counters().errors, 6u);
  EXPECT_EQ(q.counters().last_error, "conflict");
  ASSERT_TRUE(q.trigger().start);
  auto ok = q.done(true, "", 0ms);
  EXPECT_LT(ok.arm.count(), 0);
  EXPECT_EQ(q.failures(), 0u);
  EXPECT_TRUE(q.counters().last_error.empty());
  ASSERT_TRUE(q.trigger().start);
  EXPECT_EQ(q.done(false, "x", 0ms).arm.count(), 100) << "backoff restarts after a success";
}

TEST(reconcile_queue, requeue_after_arms_a_timer_and_only_the_latest_timer_fires) {
  reconcile_queue q;
  ASSERT_TRUE(q.trigger().start);
  auto a = q.done(true, "", 5000ms);
  EXPECT_EQ(a.arm.count(), 5000);
  EXPECT_EQ(q.counters().requeues, 1u);
  // An event arrives before the timer: reconcile now, which arms a newer timer.
  ASSERT_TRUE(q.trigger().start);
  auto b = q.done(true, "", 3000ms);
  ASSERT_NE(a.timer_seq, b.timer_seq);
  EXPECT_FALSE(q.timer(a.timer_seq).start) << "a replaced timer fired";
  EXPECT_TRUE(q.timer(b.timer_seq).start);
  EXPECT_FALSE(q.timer(b.timer_seq).start) << "a timer fired twice";
  ASSERT_TRUE(q.done(true, "", 0ms).arm.count() < 0);
  // A success without requeue_after disarms the pending timer.
  ASSERT_TRUE(q.trigger().start);
  auto c = q.done(true, "", 1000ms);
  ASSERT_TRUE(q.trigger().start);
  q.done(true, "", 0ms);
  EXPECT_FALSE(q.timer(c.timer_seq).start) << "a disarmed timer fired";
}

TEST(reconcile_queue, error_with_requeue_warns_and_uses_the_backoff) {
  reconcile_queue q({.base = 50ms, .max = 1000ms});
  ASSERT_TRUE(q.trigger().start);
  auto a = q.done(false, "boom", 10000ms);
  EXPECT_TRUE(a.warn_error_and_requeue);
  EXPECT_EQ(a.arm.count(), 50);
  EXPECT_EQ(q.counters().warnings, 1u);
}

TEST(reconcile_queue, a_timer_firing_while_running_becomes_the_pending_run) {
  reconcile_queue q;
  ASSERT_TRUE(q.trigger().start);
  auto a = q.done(false, "e", 0ms);
  ASSERT_TRUE(q.trigger().start);  // an event starts a run before the retry timer fires
  EXPECT_FALSE(q.timer(a.timer_seq).start);
  EXPECT_TRUE(q.pending());
  EXPECT_TRUE(q.done(true, "", 0ms).start);
}

}  // namespace
