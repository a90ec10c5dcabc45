// kernels/grad_clip.h: torch clip_grad_norm_ arithmetic over several tensors.
#include "kernels/grad_clip.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kaito {
namespace {

TEST(grad_clip, global_norm_over_tensors_and_clamp) {
  float a[2] = {3.0f, 0.0f}, b[1] = {4.0f};  // total norm 5
  double ss = grad_sum_squares_cpu(a, 2) + grad_sum_squares_cpu(b, 1);
  double total = grad_total_norm(ss);
  EXPECT_EQ(total, 5.0);
  float coef = grad_clip_coef(total, 1.0);
  EXPECT_NEAR(coef, 1.0 / (5.0 + 1e-6), 1e-7);
  grad_scale_cpu(a, 2, coef);
  grad_scale_cpu(b, 1, coef);
  EXPECT_NEAR(std::sqrt(a[0] * a[0] + b[0] * b[0]), 1.0, 1e-6);
  EXPECT_EQ(grad_clip_coef(0.1, 1.0), 1.0f);  // clamped: small gradients are left alone
  EXPECT_EQ(grad_clip_coef(0.0, 0.3), 1.0f);
  EXPECT_TRUE(std::isnan(grad_clip_coef(NAN, 1.0)));  // non-finite norm reported, not hidden
  EXPECT_EQ(grad_clip_coef(INFINITY, 1.0), 0.0f);
}

}  // namespace
}  // namespace kaito
