// vexp (kernels/vexp.h): within 2 ulp of glibc's expf over the whole float range, exact where
// the contract says so, special values, odd lengths (masked tails), and the fp64 sum and max.
#include "kernels/vexp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace kaito {
namespace {

int64_t ordered(float f) {  // float bits as a monotone integer (for ulp distances)
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i < 0 ? int64_t(INT32_MIN) - i : i;
}

int64_t ulps(float a, float b) {
  return std::llabs(ordered(a) - ordered(b));
}

TEST(vexp, within_two_ulp_of_expf_everywhere) {
  std::vector<float> x;
  for (float v = -110.0f; v <= 95.0f; v += 0.0137f) x.push_back(v);  // the whole range, dense
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> small(-1.0f, 1.0f);
  for (int i = 0; i < 100000; ++i) x.push_back(small(rng));  // where softmax lives
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.72f, 88.7228f, -87.33f, -103.9f, -88.0f, -100.0f,
                  0.34657359f, -0.34657359f})
    x.push_back(v);
  std::vector<float> out(x.size()), neg(x.size());
  exp_shifted_cpu(out.data(), x.data(), 0.0f, int64_t(x.size()));
  exp_negated_cpu(neg.data(), x.data(), int64_t(x.size()));
  int64_t worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = std::exp(x[i]);
    ASSERT_LE(ulps(out[i], want), 2) << "x=" << x[i] << " got " << out[i] << " want " << want;
    ASSERT_LE(ulps(neg[i], std::exp(-x[i])), 2) << "x=" << x[i];
    worst = std::max(worst, ulps(out[i], want));
  }
  RecordProperty("worst_ulp", int(worst));
}

TEST(vexp, special_values_and_shift) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f, inf, -inf, nan, 89.0f, 200.0f, -200.0f, -104.0f, 3.0f};
  std::vector<float> out(x.size());
  exp_shifted_cpu(out.data(), x.data(), 0.0f, int64_t(x.size()));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_TRUE(std::isnan(out[3]));
  EXPECT_EQ(out[4], inf);
  EXPECT_EQ(out[5], inf);
  EXPECT_EQ(out[6], 0.0f);
  EXPECT_EQ(out[7], 0.0f);
  // exp(in - shift) with the subtraction in fp32, as the scalar twins do; in place.
  exp_shifted_cpu(x.data() + 8, x.data() + 8, 3.0f, 1);
  EXPECT_EQ(x[8], 1.0f);
}

TEST(vexp, tails_sums_and_max) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (int64_t n : {0, 1, 7, 15, 16, 17, 31, 33, 1000, 32064}) {
    std::vector<float> x(size_t(n) + 16);
    for (auto& v : x) v = d(rng);
    // A guard past n that must stay untouched by the masked tail store.
    std::vector<float> out(size_t(n) + 16, -5.0f);
    exp_shifted_cpu(out.data(), x.data(), 1.5f, n);
    double ref = 0.0;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(ulps(out[size_t(i)], std::exp(x[size_t(i)] - 1.5f)), 2) << "n=" << n;
      ref += std::exp(double(x[size_t(i)]) - 1.5);
      mx = std::max(mx, x[size_t(i)]);
    }
    for (size_t i = size_t(n); i < out.size(); ++i) ASSERT_EQ(out[i], -5.0f) << "n=" << n;
    const double sum = sum_exp_shifted_cpu(x.data(), 1.5f, n);
    EXPECT_NEAR(sum, ref, 1e-6 * ref + 1e-300) << "n=" << n;
    EXPECT_EQ(max_cpu(x.data(), n), mx) << "n=" << n;
  }
  std::vector<float> with_nan = {1.0f, std::numeric_limits<float>::quiet_NaN(), 4.0f, -2.0f};
  EXPECT_EQ(max_cpu(with_nan.data(), 4), 4.0f);
}

// exp_sum_flushed_cpu: exp_shifted_cpu's values, 0 under exp(-87) (no denormal), and their sum;
// -inf (a token top_k dropped) is 0.
TEST(vexp, flushed_exponentials_and_their_sum) {
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 40.0f);  // (a good share under -87)
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {0, 1, 15, 16, 17, 1000, 32064}) {
    std::vector<float> x(size_t(n) + 16);
    for (auto& v : x) v = d(rng);
    if (n > 3) x[3] = -inf;
    std::vector<float> out(size_t(n) + 16, -5.0f);
    std::vector<float> plain(static_cast<size_t>(n));
    const float shift = n > 0 ? max_cpu(x.data(), n) : 0.0f;  // (as a softmax shifts)
    const double sum = exp_sum_flushed_cpu(out.data(), x.data(), shift, n);
    exp_shifted_cpu(plain.data(), x.data(), shift, n);
    double ref = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float v = out[size_t(i)], shifted = x[size_t(i)] - shift;
      if (shifted < -87.0f) {
        ASSERT_EQ(v, 0.0f) << "n=" << n << " x=" << x[size_t(i)];
      } else {
        ASSERT_EQ(v, plain[size_t(i)]) << "n=" << n;
        ASSERT_GE(v, std::numeric_limits<float>::min()) << "n=" << n;  // normal
      }
      ref += double(v);
    }
    for (size_t i = size_t(n); i < out.size(); ++i) ASSERT_EQ(out[i], -5.0f) << "n=" << n;
    EXPECT_NEAR(sum, ref, 1e-12 * ref + 1e-300) << "n=" << n;
  }
  std::vector<float> big = {100.0f, 0.0f};  // (overflow stays +inf, as exp_shifted_cpu's)
  std::vector<float> o(2);
  EXPECT_EQ(exp_sum_flushed_cpu(o.data(), big.data(), 0.0f, 2), inf);
}

}  // namespace
}  // namespace kaito
