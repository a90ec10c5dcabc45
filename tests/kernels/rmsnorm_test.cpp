// kernels/rmsnorm.h: hand-computed row, fp64 reference, finite-difference gradients.
#include "kernels/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

using testing::random_vec;

// fp64 reference forward.
void ref_forward(std::vector<double>& out, const std::vector<double>& x,
                 const std::vector<double>& w, int64_t N, int64_t C, double eps) {
  out.assign(static_cast<size_t>(N * C), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += x[n * C + c] * x[n * C + c];
    double r = 1.0 / std::sqrt(ss / double(C) + eps);
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = x[n * C + c] * r * w[c];
  }
}

double ref_loss(const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<double>& R, int64_t N, int64_t C, double eps) {
  std::vector<double> out;
  ref_forward(out, x, w, N, C, eps);
  double L = 0;
  for (size_t i = 0; i < out.size(); ++i) L += out[i] * R[i];
  return L;
}

TEST(rmsnorm, hand_computed_row) {
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, 2, -1}, out[4], rstd[1];
  rmsnorm_forward_cpu(out, rstd, x, w, 1, 4, 0.0f);
  // mean(x^2) = 30/4 = 7.5, rstd = 1/sqrt(7.5) = 0.36514837...
  EXPECT_NEAR(rstd[0], 0.3651483716701107, 1e-7);
  EXPECT_NEAR(out[0], 0.3651483716701107, 1e-7);
  EXPECT_NEAR(out[1], 0.3651483716701107, 1e-7);
  EXPECT_NEAR(out[2], 6 * 0.3651483716701107, 1e-6);
  EXPECT_NEAR(out[3], -4 * 0.3651483716701107, 1e-6);
}

TEST(rmsnorm, forward_matches_fp64_reference_odd_shapes) {
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 1}, {1, 7}, {3, 5}, {5, 97}, {2, 3072}}) {
    auto x = random_vec(N * C, 1, -3, 3), w = random_vec(C, 2, 0.5f, 1.5f);
    std::vector<float> out(static_cast<size_t>(N * C), NAN), rstd(static_cast<size_t>(N), NAN);
    rmsnorm_forward_cpu(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
    std::vector<double> ref;
    ref_forward(ref, testing::to_double(x), testing::to_double(w), N, C, 1e-5);
    // fp32 data: a few ulps of the output (x * rstd * w, two fp32 roundings, rstd 1-2 ulp)
    EXPECT_LT(testing::max_rel_err(out, ref), 1e-6) << N << "x" << C;
  }
}

TEST(rmsnorm, backward_matches_finite_differences) {
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 2}, {1, 6}, {3, 5}, {4, 33}}) {
    double eps = 1e-5;
    auto x = random_vec(N * C, 3, -2, 2), w = random_vec(C, 4, 0.5f, 1.5f);
    auto R = random_vec(N * C, 5);  // L = sum(out * R), so dout = R
    std::vector<float> out(static_cast<size_t>(N * C)), rstd(static_cast<size_t>(N));
    rmsnorm_forward_cpu(out.data(), rstd.data(), x.data(), w.data(), N, C, float(eps));
    std::vector<float> dx(static_cast<size_t>(N * C), NAN),
        dw(static_cast<size_t>(C), 0.25f);  // dw accumulates onto 0.25
    rmsnorm_backward_cpu(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), N, C);
    auto xd = testing::to_double(x), wd = testing::to_double(w), Rd = testing::to_double(R);
    std::vector<double> gx(xd.size()), gw(wd.size());
    const double h = 1e-6;  // central differences on an fp64 function: error ~h^2
    for (size_t i = 0; i < xd.size(); ++i) {
      auto xp = xd, xm = xd;
      xp[i] += h;
      xm[i] -= h;
      gx[i] = (ref_loss(xp, wd, Rd, N, C, eps) - ref_loss(xm, wd, Rd, N, C, eps)) / (2 * h);
    }
    for (size_t c = 0; c < wd.size(); ++c) {
      auto wp = wd, wm = wd;
      wp[c] += h;
      wm[c] -= h;
      gw[c] = 0.25 + (ref_loss(xd, wp, Rd, N, C, eps) - ref_loss(xd, wm, Rd, N, C, eps)) / (2 * h);
    }
    // the analytic fp32 gradient vs an fp64 FD: fp32 rounding of a sum over C terms ~1e-6
    EXPECT_LT(testing::max_rel_err(dx, gx), 1e-5) << N << "x" << C;
    EXPECT_LT(testing::max_rel_err(dw, gw), 1e-5) << N << "x" << C;
    std::vector<float> dx2(dx.size(), NAN);  // frozen weight: dweight == nullptr, same dinp
    rmsnorm_backward_cpu(dx2.data(), nullptr, R.data(), x.data(), w.data(), rstd.data(), N, C);
    EXPECT_EQ(dx2, dx);
  }
}

}  // namespace
}  // namespace kaito
