// kernels/lr_schedule.h: HF get_*_schedule_with_warmup values at hand-computed steps.
#include "kernels/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace kaito {
namespace {

TEST(lr_schedule, warmup_then_linear_cosine_constant) {
  lr_schedule s{lr_schedule_kind::linear, 2e-4, 10, 110};
  EXPECT_EQ(lr_at(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 5), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(s, 10), 2e-4);
  EXPECT_DOUBLE_EQ(lr_at(s, 60), 1e-4);  // (110-60)/100
  EXPECT_EQ(lr_at(s, 110), 0.0);
  EXPECT_EQ(lr_at(s, 200), 0.0);  // clamped at 0
  s.kind = lr_schedule_kind::cosine;
  EXPECT_DOUBLE_EQ(lr_at(s, 10), 2e-4);
  EXPECT_NEAR(lr_at(s, 60), 1e-4, 1e-18);  // cos(pi/2) = 0
  EXPECT_NEAR(lr_at(s, 35), 2e-4 * 0.5 * (1 + std::cos(std::numbers::pi * 0.25)), 1e-18);
  EXPECT_NEAR(lr_at(s, 110), 0.0, 1e-20);
  s.kind = lr_schedule_kind::constant_with_warmup;
  EXPECT_DOUBLE_EQ(lr_at(s, 3), 0.6e-4);
  EXPECT_EQ(lr_at(s, 50), 2e-4);
  s.kind = lr_schedule_kind::constant;
  EXPECT_EQ(lr_at(s, 0), 2e-4);  // get_constant_schedule ignores warmup
  lr_schedule none{lr_schedule_kind::linear, 1.0, 0, 4};
  EXPECT_EQ(lr_at(none, 0), 1.0);  // no warmup: starts at the base lr
  EXPECT_EQ(lr_at(none, 1), 0.75);
}

TEST(lr_schedule, names_and_warmup_ratio) {
  lr_schedule_kind k;
  EXPECT_TRUE(lr_schedule_kind_from_name("cosine", &k));
  EXPECT_EQ(k, lr_schedule_kind::cosine);
  EXPECT_TRUE(lr_schedule_kind_from_name("constant_with_warmup", &k));
  EXPECT_EQ(k, lr_schedule_kind::constant_with_warmup);
  EXPECT_FALSE(lr_schedule_kind_from_name("polynomial", &k));
  EXPECT_EQ(lr_warmup_steps_from_ratio(0.03, 100), 3);
  EXPECT_EQ(lr_warmup_steps_from_ratio(0.03, 101), 4);  // ceil
}

}  // namespace
}  // namespace kaito
