// kernels/dtype.h: exact bf16/f16 <-> f32 conversions.
#include "kernels/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kaito {
namespace {

// Reference RNE to bf16 from first principles: the two neighbouring bf16 values bracket x; pick the
// closer in exact double arithmetic, the even mantissa on a tie.
uint16_t ref_bf16(float x) {
  uint32_t u = f32_bits(x);
  if (std::isnan(x)) return uint16_t((u >> 16) | 0x40);
  uint16_t lo = uint16_t(u >> 16);  // truncation (towards zero in magnitude)
  if ((u & 0xffff) == 0) return lo;
  uint16_t hi = uint16_t(lo + 1);  // next magnitude up (may become Inf, which is correct)
  double dl = std::fabs(double(x) - double(f32_from_bits(uint32_t(lo) << 16)));
  double dh = std::fabs(double(f32_from_bits(uint32_t(hi) << 16)) - double(x));
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(dtype, bf16_widening_is_exact_and_round_trips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_to_f32(bf16{uint16_t(b)});
    EXPECT_EQ(f32_bits(f), b << 16);
    if (!std::isnan(f)) EXPECT_EQ(f32_to_bf16(f).bits, b);
  }
}

TEST(dtype, bf16_rounds_to_nearest_even) {
  // hand cases: 1 + 2^-8 is a tie between 1.0 (even) and 1 + 2^-7 -> 1.0
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)).bits, 0x3f80);
  // 1 + 3*2^-8: tie between 0x3f81 (odd) and 0x3f82 (even) -> 0x3f82
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)).bits, 0x3f82);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808001u)).bits, 0x3f81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f7fffffu)).bits, 0x7f80);  // FLT_MAX rounds to Inf
  EXPECT_EQ(f32_to_bf16(-0.0f).bits, 0x8000);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float x = f32_from_bits(u);
    if (std::isnan(x) || std::isinf(x) || (u & 0x7f800000u) == 0x7f000000u) continue;
    ASSERT_EQ(f32_to_bf16(x).bits, ref_bf16(x)) << std::hex << u;
  }
}

TEST(dtype, f16_widening_is_exact_and_round_trips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    f16 h{uint16_t(b)};
    float f = f16_to_f32(h);
    _Float16 ref;
    std::memcpy(&ref, &h, 2);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(float(ref)));
      continue;
    }
    EXPECT_EQ(f32_bits(f), f32_bits(float(ref))) << b;
    EXPECT_EQ(f32_to_f16(f).bits, b);
  }
}

TEST(dtype, f16_narrowing_matches_the_compiler_including_subnormals) {
  // _Float16 conversion (libgcc __truncsfhf2) rounds to nearest even: an independent reference.
  std::mt19937 rng(11);
  auto check = [](uint32_t u) {
    float x = f32_from_bits(u);
    _Float16 ref = _Float16(x);
    uint16_t rb;
    std::memcpy(&rb, &ref, 2);
    if (std::isnan(x)) {
      ASSERT_EQ(f32_to_f16(x).bits & 0x7e00, 0x7e00);
      return;
    }
    ASSERT_EQ(f32_to_f16(x).bits, rb) << std::hex << u;
  };
  for (int i = 0; i < 200000; ++i) check(rng());
  // every float with an exponent in f16's range or just below it, sampled densely
  for (uint32_t u = 0x33000000u; u < 0x47800000u; u += 97) check(u);
  check(0x477ff000u);  // 65520: tie -> Inf
  check(0x477fefffu);  // just below -> 65504
  check(0x33000000u);  // 2^-25: tie between 0 and the smallest subnormal -> 0
  check(0x33000001u);  // just above -> smallest subnormal
}

TEST(dtype, bulk_conversions) {
  float in[3] = {1.0f, -2.5f, 3.1415926f};
  bf16 b[3];
  float back[3];
  f32_to_bf16_cpu(b, in, 3);
  bf16_to_f32_cpu(back, b, 3);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -2.5f);
  EXPECT_EQ(back[2], 3.140625f);
  f16 h[3];
  f32_to_f16_cpu(h, in, 3);
  f16_to_f32_cpu(back, h, 3);
  EXPECT_EQ(back[2], 3.140625f);
  EXPECT_EQ(dtype_size(dtype::i64), 8);
  EXPECT_STREQ(dtype_name(dtype::bf16), "bf16");
}

}  // namespace
}  // namespace kaito
