// step_profile's host side (engine/cuda/step_profile.h): the per-name sums, and the recorder's
// state errors. The event timing itself needs a GPU (the benches' --profile rows use it).
#include <gtest/gtest.h>

#include <vector>

#include "engine/cuda/step_profile.h"
#include "kernels/cuda/cuda_context.h"

namespace kaito::gpu {
namespace {

TEST(step_profile, sums_by_name_largest_first) {
  const std::vector<const char*> names = {"gemm", "norm", "gemm", "attn", "norm", "gemm"};
  const std::vector<double> ms = {2.0, 0.25, 3.0, 4.0, 0.5, 1.0};
  const std::vector<segment_total> t = sum_segments(names, ms);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].name, "gemm");
  EXPECT_DOUBLE_EQ(t[0].ms, 6.0);
  EXPECT_EQ(t[0].count, 3);
  EXPECT_EQ(t[1].name, "attn");
  EXPECT_EQ(t[1].count, 1);
  EXPECT_EQ(t[2].name, "norm");
  EXPECT_DOUBLE_EQ(t[2].ms, 0.75);
}

TEST(step_profile, ties_by_name_and_uneven_inputs) {
  const std::vector<segment_total> t = sum_segments({"b", "a", "c"}, {1.0, 1.0});
  ASSERT_EQ(t.size(), 2u);  // a name without a duration is dropped
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[1].name, "b");
  EXPECT_TRUE(sum_segments({}, {}).empty());
}

TEST(step_profile, state_errors_without_recording) {
  step_profile p;
  EXPECT_FALSE(p.active());
  p.mark("ignored");  // not recording: a no-op
  profile_mark(&p, "ignored");
  profile_mark(nullptr, "ignored");
  auto r = p.stop();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::failed_precondition);
  EXPECT_EQ(p.hold().code(), status_code::failed_precondition);
  p.release();  // nothing held: a no-op
  EXPECT_FALSE(p.held_expired());
  if (cuda_device_count() == 0) {
    // no device: creating the events fails with a status, never a crash
    const status st = p.start(nullptr, 4);
    EXPECT_FALSE(st.ok());
    EXPECT_FALSE(p.active());
  }
  EXPECT_EQ(p.start(nullptr, 0).code(), status_code::invalid_argument);
}

}  // namespace
}  // namespace kaito::gpu
