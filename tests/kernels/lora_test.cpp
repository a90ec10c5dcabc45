// kernels/lora.h: scale, kaiming-uniform init, forward vs fp64, FD gradients, dropout masks.
#include "kernels/lora.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/rng.h"
#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

TEST(lora, scale_and_init) {
  EXPECT_EQ(lora_scale(16, 16, false), 1.0);
  EXPECT_EQ(lora_scale(16, 16, true), 4.0);
  EXPECT_EQ(lora_scale(8, 4, false), 2.0);
  EXPECT_NEAR(lora_init_bound(3072), 1.0 / std::sqrt(3072.0), 1e-12);
  const int64_t R = 4, IN = 300, OUT = 7;
  std::vector<float> A(R * IN), B(OUT * R, 5.0f), A2(R * IN), A3(R * IN), B2(OUT * R);
  lora_init_cpu(A.data(), B.data(), R, IN, OUT, 42);
  lora_init_cpu(A2.data(), B2.data(), R, IN, OUT, 42);
  lora_init_cpu(A3.data(), B2.data(), R, IN, OUT, 43);
  EXPECT_EQ(A, A2);  // seeded: reproducible
  EXPECT_NE(A, A3);
  double bound = lora_init_bound(IN), mean = 0, sq = 0;
  for (float a : A) {
    EXPECT_LE(std::fabs(a), bound);
    mean += a;
    sq += double(a) * a;
  }
  mean /= double(A.size());
  EXPECT_NEAR(mean, 0.0, 0.1 * bound);
  EXPECT_NEAR(sq / double(A.size()), bound * bound / 3.0, 0.1 * bound * bound);  // U(-b,b) var
  for (float b : B) EXPECT_EQ(b, 0.0f);
}

TEST(lora, forward_and_gradients_without_dropout) {
  const int64_t N = 3, IN = 5, R = 2, OUT = 4;
  const float s = 2.0f;
  auto x = testing::random_vec(N * IN, 1), A = testing::random_vec(R * IN, 2),
       B = testing::random_vec(OUT * R, 3), y0 = testing::random_vec(N * OUT, 4),
       dy = testing::random_vec(N * OUT, 5);
  auto ref_y = [&](const std::vector<double>& xx, const std::vector<double>& AA,
                   const std::vector<double>& BB) {
    std::vector<double> y(y0.begin(), y0.end());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OUT; ++o)
        for (int64_t r = 0; r < R; ++r) {
          double z = 0;
          for (int64_t c = 0; c < IN; ++c) z += xx[n * IN + c] * AA[r * IN + c];
          y[n * OUT + o] += s * z * BB[o * R + r];
        }
    return y;
  };
  std::vector<float> y = y0, xd(N * IN), z(N * R);
  lora_forward_cpu(y.data(), xd.data(), z.data(), x.data(), A.data(), B.data(), N, IN, R, OUT, s,
                   0.0f, 7);
  EXPECT_EQ(xd, x);
  auto xdd = testing::to_double(x), Ad = testing::to_double(A), Bd = testing::to_double(B);
  EXPECT_LT(testing::max_rel_err(y, ref_y(xdd, Ad, Bd)), 1e-6);

  std::vector<float> dx(N * IN, 0.5f), dA(R * IN, 0.25f), dB(OUT * R, -1.0f), dz(N * R, NAN);
  lora_backward_cpu(dx.data(), dA.data(), dB.data(), dz.data(), dy.data(), xd.data(), z.data(),
                    A.data(), B.data(), N, IN, R, OUT, s, 0.0f, 7);
  auto L = [&](const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<double>& c) {
    auto yy = ref_y(a, b, c);
    double l = 0;
    for (size_t i = 0; i < yy.size(); ++i) l += yy[i] * dy[i];
    return l;
  };
  auto fd = [&](std::vector<double>& p, size_t i) {
    double keep = p[i];
    p[i] = keep + 1e-6;
    double lp = L(xdd, Ad, Bd);
    p[i] = keep - 1e-6;
    double lm = L(xdd, Ad, Bd);
    p[i] = keep;
    return (lp - lm) / 2e-6;
  };
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(dx[i], 0.5 + fd(xdd, i), 1e-5);  // +=
  for (size_t i = 0; i < A.size(); ++i) EXPECT_NEAR(dA[i], 0.25 + fd(Ad, i), 1e-5);
  for (size_t i = 0; i < B.size(); ++i) EXPECT_NEAR(dB[i], -1.0 + fd(Bd, i), 1e-5);
}

TEST(lora, dropout_mask_is_seeded_scaled_and_reused_in_backward) {
  const int64_t N = 100, IN = 100, R = 2, OUT = 3;
  const float p = 0.25f;
  auto x = testing::random_vec(N * IN, 8, 0.5f, 1.0f);  // never 0, so a drop is visible
  std::vector<float> xd(N * IN);
  dropout_forward_cpu(xd.data(), x.data(), N * IN, p, 99);
  int64_t dropped = 0;
  const float keep = 1.0f / 0.75f;
  for (int64_t e = 0; e < N * IN; ++e) {
    if (xd[e] == 0.0f) {
      ++dropped;
    } else {
      EXPECT_EQ(xd[e], x[e] * keep);
    }
  }
  EXPECT_NEAR(double(dropped) / double(N * IN), 0.25, 0.02);
  // backward: dx gets exactly the kept elements of dz·A, scaled; dropped elements get nothing
  auto A = testing::random_vec(R * IN, 9), B = testing::random_vec(OUT * R, 10),
       dy = testing::random_vec(N * OUT, 11);
  std::vector<float> y(N * OUT, 0.0f), z(N * R), dz(N * R), dx(N * IN, 0.0f), dA(R * IN, 0.0f),
      dB(OUT * R, 0.0f), xd2(N * IN);
  lora_forward_cpu(y.data(), xd2.data(), z.data(), x.data(), A.data(), B.data(), N, IN, R, OUT,
                   1.0f, p, 99);
  EXPECT_EQ(xd2, xd);
  lora_backward_cpu(dx.data(), dA.data(), dB.data(), dz.data(), dy.data(), xd2.data(), z.data(),
                    A.data(), B.data(), N, IN, R, OUT, 1.0f, p, 99);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < IN; ++c) {
      double g = 0;
      for (int64_t r = 0; r < R; ++r) g += double(dz[n * R + r]) * A[r * IN + c];
      bool kept = xd[n * IN + c] != 0.0f;
      EXPECT_NEAR(dx[n * IN + c], kept ? g * keep : 0.0, 1e-5);
    }
}

// A module on a slice of a fused projection (ldy > OUT): the strided twins give the contiguous
// twins' bits in the slice and leave the other columns alone; without dropout, no xd is saved.
TEST(lora, strided_slice_equals_contiguous) {
  const int64_t N = 9, IN = 20, R = 4, OUT = 6, LD = 17, OFF = 5;
  const float s = 0.5f;
  for (float p : {0.0f, 0.3f}) {
    auto x = testing::random_vec(N * IN, 11), A = testing::random_vec(R * IN, 12),
         B = testing::random_vec(OUT * R, 13), wide = testing::random_vec(N * LD, 14),
         dwide = testing::random_vec(N * LD, 15);
    std::vector<float> y(N * OUT), dy(N * OUT);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OUT; ++o) {
        y[n * OUT + o] = wide[n * LD + OFF + o];
        dy[n * OUT + o] = dwide[n * LD + OFF + o];
      }
    std::vector<float> xd(N * IN), z(N * R), z2(N * R), xd2(N * IN);
    lora_forward_cpu(y.data(), xd.data(), z.data(), x.data(), A.data(), B.data(), N, IN, R, OUT, s,
                     p, 9);
    std::vector<float> w2 = wide;
    lora_forward_strided_cpu(w2.data() + OFF, LD, p > 0.0f ? xd2.data() : nullptr, z2.data(),
                             x.data(), A.data(), B.data(), N, IN, R, OUT, s, p, 9);
    EXPECT_EQ(z, z2);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < LD; ++c) {
        const float want = (c >= OFF && c < OFF + OUT) ? y[n * OUT + c - OFF] : wide[n * LD + c];
        ASSERT_EQ(w2[n * LD + c], want) << "n=" << n << " c=" << c;
      }
    std::vector<float> dx(N * IN, 0.5f), dA(R * IN, 0.25f), dB(OUT * R, -1.0f), dz(N * R);
    std::vector<float> dx2 = dx, dA2 = dA, dB2 = dB, dz2 = dz;
    lora_backward_cpu(dx.data(), dA.data(), dB.data(), dz.data(), dy.data(), xd.data(), z.data(),
                      A.data(), B.data(), N, IN, R, OUT, s, p, 9);
    lora_backward_strided_cpu(dx2.data(), dA2.data(), dB2.data(), dz2.data(), dwide.data() + OFF,
                              LD, p > 0.0f ? xd2.data() : x.data(), z2.data(), A.data(), B.data(),
                              N, IN, R, OUT, s, p, 9);
    EXPECT_EQ(dx, dx2);
    EXPECT_EQ(dA, dA2);
    EXPECT_EQ(dB, dB2);
  }
}

TEST(lora, rng_is_a_pure_function_of_seed_and_index) {
  EXPECT_EQ(rng_bits(1, 5), rng_bits(1, 5));
  EXPECT_NE(rng_bits(1, 5), rng_bits(2, 5));
  EXPECT_NE(rng_derive(1, 0), rng_derive(1, 1));
  float u = rng_uniform(3, 4);
  EXPECT_GE(u, 0.0f);
  EXPECT_LT(u, 1.0f);
}

}  // namespace
}  // namespace kaito
