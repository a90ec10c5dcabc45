// Exact conversions between fp32 and the 16-bit storage types (see kernels/dtype.h).
#include "kernels/dtype.h"

namespace kaito {

const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f32:
      return "f32";
    case dtype::bf16:
      return "bf16";
    case dtype::f16:
      return "f16";
    case dtype::u8:
      return "u8";
    case dtype::i32:
      return "i32";
    case dtype::i64:
      return "i64";
  }
  return "?";
}

float f16_to_f32(f16 h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1fu) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // Inf / NaN
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);  // +-0
    // subnormal: mant * 2^-24; normalise so the leading 1 moves to bit 10
    uint32_t e = 113;  // 127 - 15 + 1
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    mant &= 0x3ffu;
    return f32_from_bits(sign | (e << 23) | (mant << 13));
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

f16 f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};  // quiet NaN
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // >= 65520 rounds to Inf (and Inf)
  if (a < 0x38800000u) {
    // below the smallest normal (2^-14): adding 0.5f puts the binary point so that one ulp of the
    // sum is 2^-24, the f16 subnormal step; the fp32 addition rounds to nearest even for us.
    float t = f32_from_bits(a) + 0.5f;
    return f16{uint16_t(sign | (f32_bits(t) - 0x3f000000u))};
  }
  // normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even
  uint32_t mant_odd = (a >> 13) & 1u;
  a += 0xc8000fffu + mant_odd;
  return f16{uint16_t(sign | (a >> 13))};
}

void bf16_to_f32_cpu(float* out, const bf16* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}
void f32_to_bf16_cpu(bf16* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}
void f16_to_f32_cpu(float* out, const f16* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}
void f32_to_f16_cpu(f16* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(in[i]);
}

}  // namespace kaito
