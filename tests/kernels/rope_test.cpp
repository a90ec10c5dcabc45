// kernels/rope.h: HF inverse frequencies (default, longrope short/long switch and attention factor,
// llama3), cos/sin tables, rotation vs fp64, backward as the exact transpose.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

// HF's base ** (arange(0, D, 2).float() / D): the exponent is rounded to fp32 first (that
// rounding moves the result by up to ln(theta) * 2^-24 ~ 5e-7 relative, in HF too); the power
// itself is then exact here, so ours may differ only by powf's and the reciprocal's roundings.
double hf_pow(double theta, int64_t i, int64_t D) {
  return std::pow(theta, double(float(2 * i) / float(D)));
}

TEST(rope, default_inv_freq_matches_the_formula) {
  rope_params p;
  p.head_dim = 96;
  auto inv = rope_inv_freq(p, 10);
  ASSERT_EQ(inv.size(), 48u);
  EXPECT_EQ(inv[0], 1.0f);
  for (int i = 0; i < 48; ++i)
    EXPECT_NEAR(inv[i], 1.0 / hf_pow(10000.0, i, 96), 2e-7 * inv[i]) << i;
}

TEST(rope, longrope_switches_factors_after_original_max_and_scales_always) {
  rope_params p;
  p.kind = rope_kind::longrope;
  p.head_dim = 8;
  p.short_factor = {1.0f, 1.5f, 2.0f, 4.0f};
  p.long_factor = {2.0f, 3.0f, 8.0f, 64.0f};
  p.original_max_position_embeddings = 4096;
  p.max_position_embeddings = 131072;
  // Phi-3-128k: sqrt(1 + ln(32) / ln(4096)) = 1.1902380714
  EXPECT_NEAR(rope_attention_factor(p), 1.1902380714, 1e-9);
  auto shrt = rope_inv_freq(p, 4096), lng = rope_inv_freq(p, 4097);
  for (int i = 0; i < 4; ++i) {
    double base = 1.0 / hf_pow(10000.0, i, 8);
    EXPECT_NEAR(shrt[i], base / p.short_factor[i], 2e-7 * shrt[i]);
    EXPECT_NEAR(lng[i], base / p.long_factor[i], 2e-7 * lng[i]);
  }
  p.attention_factor = 1.25;  // given explicitly in the config
  EXPECT_EQ(rope_attention_factor(p), 1.25);
  EXPECT_EQ(rope_longrope_attention_factor(1.0, 4096), 1.0);
  rope_params d;
  EXPECT_EQ(rope_attention_factor(d), 1.0);
}

TEST(rope, llama3_scaling_keeps_high_divides_low_and_smooths_the_middle) {
  rope_params p;
  p.kind = rope_kind::llama3;
  p.head_dim = 128;
  p.theta = 500000.0;
  p.factor = 8.0;
  p.low_freq_factor = 1.0;
  p.high_freq_factor = 4.0;
  p.original_max_position_embeddings = 8192;
  auto inv = rope_inv_freq(p, 10);
  int kept = 0, divided = 0, smoothed = 0;
  for (int i = 0; i < 64; ++i) {
    double f = 1.0 / hf_pow(500000.0, i, 128);
    double wl = 2 * std::numbers::pi / f, want;
    if (wl < 8192.0 / 4.0) {
      want = f;
      ++kept;
    } else if (wl > 8192.0) {
      want = f / 8.0;
      ++divided;
    } else {
      double s = (8192.0 / wl - 1.0) / 3.0;
      want = (1 - s) * f / 8.0 + s * f;
      ++smoothed;
    }
    EXPECT_NEAR(inv[i], want, 2e-6 * want) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(smoothed, 0);
}

// Tables, the rotation of the first RD of HS dims (fp64 reference of HF's q * cos +
// rotate_half(q) * sin on q[..., :RD], q[..., RD:] passed through), the backward as its adjoint,
// and in-place calls.
void check_rotation(int64_t HS, int64_t RD) {
  SCOPED_TRACE("HS=" + std::to_string(HS) + " RD=" + std::to_string(RD));
  const int64_t N = 3, NH = 2, H = RD / 2;
  rope_params p;
  p.head_dim = RD;
  auto inv = rope_inv_freq(p, 100);
  ASSERT_EQ(int64_t(inv.size()), H);
  int32_t pos[N] = {0, 7, 99};
  std::vector<float> cs(N * RD), sn(N * RD);
  const float af = 1.19f;
  rope_cos_sin_cpu(cs.data(), sn.data(), pos, inv.data(), af, N, RD);
  EXPECT_EQ(cs[0], af);  // position 0: cos = attention factor, sin = 0
  EXPECT_EQ(sn[0], 0.0f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < H; ++j) {
      EXPECT_EQ(cs[n * RD + j], cs[n * RD + j + H]);  // cat(freqs, freqs)
      EXPECT_NEAR(cs[n * RD + j], std::cos(double(float(pos[n]) * inv[j])) * af, 1e-6);
    }
  auto x = testing::random_vec(N * NH * HS, 3), y = testing::random_vec(N * NH * HS, 4);
  std::vector<float> rx(x.size()), ry(y.size());
  rope_forward_cpu(rx.data(), x.data(), cs.data(), sn.data(), N, NH, HS, RD);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t j = 0; j < HS; ++j) {
        const int64_t e = (n * NH + h) * HS;
        if (j >= RD) {
          EXPECT_EQ(rx[e + j], x[e + j]) << "pass-through dim " << j;
          continue;
        }
        double rot = j < H ? -double(x[e + j + H]) : double(x[e + j - H]);
        double want = x[e + j] * double(cs[n * RD + j]) + rot * sn[n * RD + j];
        EXPECT_NEAR(rx[e + j], want, 1e-6);
      }
  // backward is the adjoint: <rope(x), y> == <x, rope_backward(y)>
  rope_backward_cpu(ry.data(), y.data(), cs.data(), sn.data(), N, NH, HS, RD);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    lhs += double(rx[i]) * y[i];
    rhs += double(x[i]) * ry[i];
  }
  EXPECT_NEAR(lhs, rhs, 1e-5);
  // in place gives the same bytes
  auto inplace = x;
  rope_forward_cpu(inplace.data(), inplace.data(), cs.data(), sn.data(), N, NH, HS, RD);
  EXPECT_EQ(inplace, rx);
  auto inplace_b = y;
  rope_backward_cpu(inplace_b.data(), inplace_b.data(), cs.data(), sn.data(), N, NH, HS, RD);
  EXPECT_EQ(inplace_b, ry);
}

TEST(rope, tables_rotation_and_transpose) {
  check_rotation(6, 6);
}

// Partial rotary (Phi-4-mini's partial_rotary_factor 0.75: 96 of 128 dims): the rotated pairs
// are (j, j + RD/2), not (j, j + HS/2), and the last HS - RD dims pass through.
TEST(rope, partial_rotary) {
  check_rotation(16, 12);
  check_rotation(10, 2);
}

}  // namespace
}  // namespace kaito
