// kernels/cross_entropy.h: hand-computed loss, ignore index, mean, FD gradient, in-place backward.
#include "kernels/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

TEST(cross_entropy, hand_computed_two_class_row_and_ignored_row) {
  float logits[4] = {0.0f, std::log(3.0f), 5.0f, -5.0f};  // p = [1/4, 3/4]
  int32_t targets[2] = {1, -100};
  float losses[2], lse[2];
  cross_entropy_forward_cpu(losses, lse, logits, targets, 2, 2);
  EXPECT_NEAR(lse[0], std::log(4.0), 1e-7);
  EXPECT_NEAR(losses[0], -std::log(0.75), 1e-7);
  EXPECT_EQ(losses[1], 0.0f);
  EXPECT_EQ(cross_entropy_count(targets, 2), 1);
  EXPECT_NEAR(cross_entropy_mean(losses, targets, 2), -std::log(0.75), 1e-7);
  float d[4];
  cross_entropy_backward_cpu(d, logits, lse, targets, 1.0f, 2, 2);
  EXPECT_NEAR(d[0], 0.25, 1e-7);
  EXPECT_NEAR(d[1], -0.25, 1e-7);
  EXPECT_EQ(d[2], 0.0f);
  EXPECT_EQ(d[3], 0.0f);
  int32_t none[1] = {-100};
  EXPECT_EQ(cross_entropy_mean(losses, none, 1), 0.0);
}

TEST(cross_entropy, gradient_of_the_mean_matches_finite_differences) {
  const int64_t N = 4, V = 11;
  auto logits = testing::random_vec(N * V, 5, -8, 8);
  int32_t targets[N] = {3, -100, 10, 0};
  auto mean_loss = [&](const std::vector<double>& x) {  // fp64 reference
    double s = 0;
    int c = 0;
    for (int64_t n = 0; n < N; ++n) {
      if (targets[n] == -100) continue;
      double m = -1e300, z = 0;
      for (int64_t v = 0; v < V; ++v) m = std::max(m, x[n * V + v]);
      for (int64_t v = 0; v < V; ++v) z += std::exp(x[n * V + v] - m);
      s += m + std::log(z) - x[n * V + targets[n]];
      ++c;
    }
    return s / c;
  };
  std::vector<float> losses(N), lse(N);
  cross_entropy_forward_cpu(losses.data(), lse.data(), logits.data(), targets, N, V);
  auto xd = testing::to_double(logits);
  EXPECT_NEAR(cross_entropy_mean(losses.data(), targets, N), mean_loss(xd), 1e-6);
  float scale = 1.0f / float(cross_entropy_count(targets, N));
  std::vector<float> d = logits;  // in place: dlogits aliases logits
  cross_entropy_backward_cpu(d.data(), d.data(), lse.data(), targets, scale, N, V);
  for (size_t i = 0; i < xd.size(); ++i) {
    auto p = xd, m = xd;
    p[i] += 1e-6;
    m[i] -= 1e-6;
    double fd = (mean_loss(p) - mean_loss(m)) / 2e-6;
    EXPECT_NEAR(d[i], fd, 1e-6) << i;
  }
}

TEST(cross_entropy, large_logits_do_not_overflow) {
  float logits[3] = {1000.0f, 999.0f, -1000.0f};
  int32_t t = 0;
  float loss, lse;
  cross_entropy_forward_cpu(&loss, &lse, logits, &t, 1, 3);
  EXPECT_NEAR(loss, std::log(1.0 + std::exp(-1.0)), 1e-6);
}

}  // namespace
}  // namespace kaito
