// restart_backoff (actors/restart_backoff.h) with a fake clock: delays double per consecutive
// death up to the cap, a run of healthy_after resets them, forget() drops the history, and the
// doubling never overflows however many deaths there are.
#include "actors/restart_backoff.h"

#include <gtest/gtest.h>

namespace kaito::actors {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST(RestartBackoff, DoublesPerConsecutiveDeathUpToTheCap) {
  restart_backoff rb(100ms, 30s, 600s);
  auto t = restart_backoff::clock::time_point{} + 1h;
  const ms want[] = {200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms, 12800ms, 25600ms, 30s, 30s};
  for (ms w : want) {
    rb.started("workspace ns/a", t);
    t += 5s;  // dies quickly every time
    EXPECT_EQ(rb.died("workspace ns/a", t), w);
    t += w;
  }
  EXPECT_EQ(rb.deaths("workspace ns/a"), 10u);
  EXPECT_EQ(rb.deaths("workspace ns/b"), 0u);  // another reconciler has its own count
}

TEST(RestartBackoff, AHealthyRunResetsTheCount) {
  restart_backoff rb(100ms, 30s, 600s);
  auto t = restart_backoff::clock::time_point{} + 1h;
  for (int i = 0; i < 6; ++i) {
    rb.started("job ns/j", t);
    (void)rb.died("job ns/j", t += 1s);
  }
  EXPECT_EQ(rb.deaths("job ns/j"), 6u);
  rb.started("job ns/j", t);
  EXPECT_EQ(rb.died("job ns/j", t += 599s), 12800ms) << "just short of healthy: still counting";
  rb.started("job ns/j", t);
  EXPECT_EQ(rb.died("job ns/j", t += 600s), 200ms) << "a 10-minute run starts over";
  EXPECT_EQ(rb.deaths("job ns/j"), 1u);
}

TEST(RestartBackoff, ForgetDropsTheHistoryAndDeathsWithoutStartCount) {
  restart_backoff rb;
  auto t = restart_backoff::clock::time_point{} + 1h;
  EXPECT_EQ(rb.died("statefulset ns/s", t), 200ms);  // no started(): counted as consecutive
  EXPECT_EQ(rb.died("statefulset ns/s", t + 1h), 400ms);
  EXPECT_EQ(rb.size(), 1u);
  rb.forget("statefulset ns/s");
  EXPECT_EQ(rb.size(), 0u);
  EXPECT_EQ(rb.died("statefulset ns/s", t), 200ms);
}

TEST(RestartBackoff, ManyDeathsStayAtTheCap) {
  restart_backoff rb(100ms, 30s, 600s);
  auto t = restart_backoff::clock::time_point{};
  ms last{};
  for (int i = 0; i < 100; ++i) last = rb.died("k", t);
  EXPECT_EQ(last, 30s);
  EXPECT_EQ(rb.deaths("k"), 100u);
}

}  // namespace
}  // namespace kaito::actors
