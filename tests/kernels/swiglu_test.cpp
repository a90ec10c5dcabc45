// kernels/swiglu.h: fused (ld = 2I) and separate (ld = I) layouts, finite-difference gradients.
#include "kernels/swiglu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

double silu(double x) {
  return x / (1.0 + std::exp(-x));
}

TEST(swiglu, fused_layout_forward_matches_fp64) {
  for (auto [N, I] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {2, 64}}) {
    auto gu = testing::random_vec(N * 2 * I, 1, -6, 6);
    std::vector<float> out(N * I, NAN);
    swiglu_forward_cpu(out.data(), gu.data(), gu.data() + I, N, I, 2 * I);
    std::vector<double> ref(out.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < I; ++i)
        ref[n * I + i] = silu(gu[n * 2 * I + i]) * gu[n * 2 * I + I + i];  // first half gate
    EXPECT_LT(testing::max_rel_err(out, ref), 1e-6);
  }
}

TEST(swiglu, backward_matches_finite_differences_both_layouts) {
  const int64_t N = 3, I = 5;
  auto dout = testing::random_vec(N * I, 2);
  for (int64_t ld : {I, 2 * I}) {
    auto g = testing::random_vec(N * ld, 3, -4, 4), u = testing::random_vec(N * ld, 4, -2, 2);
    std::vector<float> dg(N * ld, 9.0f), du(N * ld, 9.0f);
    swiglu_backward_cpu(dg.data(), du.data(), dout.data(), g.data(), u.data(), N, I, ld);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < I; ++i) {
        double x = g[n * ld + i], up = u[n * ld + i], d = dout[n * I + i], h = 1e-6;
        double fd_g = d * up * (silu(x + h) - silu(x - h)) / (2 * h);
        EXPECT_NEAR(dg[n * ld + i], fd_g, 1e-5 * (1 + std::fabs(fd_g)));
        EXPECT_NEAR(du[n * ld + i], d * silu(x), 1e-6 * (1 + std::fabs(d * silu(x))));
      }
    if (ld == 2 * I) EXPECT_EQ(dg[I], 9.0f);  // elements outside the I columns are untouched
  }
}

}  // namespace
}  // namespace kaito
