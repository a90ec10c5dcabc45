// Element types of kaito tensors and exact conversions between them (storage layer of kernels/).
//
// dtype names what a buffer holds. bf16 and f16 are 16-bit *storage* structs (no arithmetic):
// kernels convert to fp32, compute, and round back. The conversions are exact IEEE-754 behaviour:
//   - widening (bf16/f16 -> f32) is exact for every bit pattern (NaN payloads and subnormals kept);
//   - narrowing (f32 -> bf16/f16) rounds to nearest, ties to even (torch .to(torch.bfloat16),
//     __float2bfloat16_rn); NaN stays a quiet NaN, overflow goes to +-Inf, f16 keeps subnormals.
// Reference: PyTorch c10/util/BFloat16.h (round_to_nearest_even), c10/util/Half.h.
//
// This header is included by the CUDA twins too, so it holds no CUDA types: `cuda_context` is
// forward-declared here and defined in kernels/cuda/cuda_context.h. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace kaito {

struct cuda_context;  // kernels/cuda/cuda_context.h (only with KAITO_WITH_CUDA)

enum class dtype : uint8_t { f32, bf16, f16, u8, i32, i64 };

// Size of one element in bytes.
constexpr int64_t dtype_size(dtype t) {
  switch (t) {
    case dtype::f32:
      return 4;
    case dtype::bf16:
      return 2;
    case dtype::f16:
      return 2;
    case dtype::u8:
      return 1;
    case dtype::i32:
      return 4;
    case dtype::i64:
      return 8;
  }
  return 0;
}

// "f32", "bf16", ... (the names kaito uses in errors; safetensors names are the engine's).
const char* dtype_name(dtype t);

// bfloat16 storage: the upper 16 bits of an IEEE binary32.
struct bf16 {
  uint16_t bits;
};
// IEEE binary16 storage.
struct f16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2, "16-bit storage structs must be 2 bytes");

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Exact widening.
inline float bf16_to_f32(bf16 h) {
  return f32_from_bits(uint32_t(h.bits) << 16);
}

// Round to nearest even; NaN -> quiet NaN with the sign kept.
inline bf16 f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x0040u)};
  uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t((u + rounding_bias) >> 16)};
}

// Exact widening of binary16 (normals, subnormals, Inf, NaN).
float f16_to_f32(f16 h);
// Round to nearest even, with gradual underflow to f16 subnormals; NaN -> quiet NaN.
f16 f32_to_f16(float f);

// Bulk conversions over n contiguous elements (out and in must not overlap).
void bf16_to_f32_cpu(float* out, const bf16* in, int64_t n);
void f32_to_bf16_cpu(bf16* out, const float* in, int64_t n);
void f16_to_f32_cpu(float* out, const f16* in, int64_t n);
void f32_to_f16_cpu(f16* out, const float* in, int64_t n);

#if KAITO_WITH_CUDA
// Device twins (same rounding: __float2bfloat16_rn). Pointers are device memory.
void bf16_to_f32_cuda(cuda_context& cx, float* out, const bf16* in, int64_t n);
void f32_to_bf16_cuda(cuda_context& cx, bf16* out, const float* in, int64_t n);
#endif

}  // namespace kaito
