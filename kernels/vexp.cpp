// Vectorised exponentials (contract: kernels/vexp.h).
#include "kernels/vexp.h"

#include <cmath>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kaito {
namespace {

// exp_sum_flushed_cpu's 0 below this (exp(-87) = 1.6e-38, just above FLT_MIN = 2^-126: every
// value computed is normal).
constexpr float kFlushBelow = -87.0f;

#if defined(__x86_64__)
#define KAITO_AVX512F __attribute__((target("avx512f,fma")))

bool have_avx512() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

// exp of 16 lanes (see the header for the method and its accuracy).
KAITO_AVX512F inline __m512 exp16(__m512 x) {
  // Clamp so that k stays finite; max/min return their second operand for NaN, which keeps NaN.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);  // ln 2 high part (exact k*)
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);      // ln 2 low part
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));  // p = 1 + r + r^2 y
  return _mm512_scalef_ps(y, k);
}

inline __mmask16 tail_mask(int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

KAITO_AVX512F void exp_avx512(float* out, const float* in, float sign, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift), g = _mm512_set1_ps(sign);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, exp16(_mm512_sub_ps(_mm512_mul_ps(g, _mm512_loadu_ps(in + i)), s)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, in + i);
    _mm512_mask_storeu_ps(out + i, m, exp16(_mm512_sub_ps(_mm512_mul_ps(g, v), s)));
  }
}

// lo, hi += the 16 lanes of e, widened to fp64.
KAITO_AVX512F inline void add_wide(__m512d& lo, __m512d& hi, __m512 e) {
  lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
  hi = _mm512_add_pd(
      hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
}

// The 16 lane sums added in lane order (a fixed order: the result depends on n and the data only).
KAITO_AVX512F double lane_sum(__m512d lo, __m512d hi) {
  alignas(64) double lanes[16];
  _mm512_store_pd(lanes, lo);
  _mm512_store_pd(lanes + 8, hi);
  double sum = 0.0;
  for (double d : lanes) sum += d;
  return sum;
}

KAITO_AVX512F double sum_exp_avx512(const float* in, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();

  int64_t i = 0;
  for (; i + 16 <= n; i += 16) add_wide(lo, hi, exp16(_mm512_sub_ps(_mm512_loadu_ps(in + i), s)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, in + i);
    add_wide(lo, hi, _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(v, s))));
  }
  return lane_sum(lo, hi);
}

// exp16 with lanes under FLT_MIN's exponent zeroed by the mask (no denormal is computed).
KAITO_AVX512F inline __m512 exp16_flushed(__m512 x) {
  const __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kFlushBelow), _CMP_GE_OQ);
  return _mm512_maskz_mov_ps(normal, exp16(_mm512_max_ps(x, _mm512_set1_ps(kFlushBelow))));
}

KAITO_AVX512F double exp_sum_flushed_avx512(float* out, const float* in, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16_flushed(_mm512_sub_ps(_mm512_loadu_ps(in + i), s));
    _mm512_storeu_ps(out + i, e);
    add_wide(lo, hi, e);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e =
        _mm512_maskz_mov_ps(m, exp16_flushed(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + i), s)));
    _mm512_mask_storeu_ps(out + i, m, e);
    add_wide(lo, hi, e);
  }
  return lane_sum(lo, hi);
}

KAITO_AVX512F float max_avx512(const float* in, int64_t n) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  // max(v, m) returns m (its second operand) where v is NaN: NaN entries are skipped.
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(in + i), m);
  if (i < n) {
    const __mmask16 k = tail_mask(n - i);
    m = _mm512_mask_max_ps(m, k, _mm512_maskz_loadu_ps(k, in + i), m);
  }
  return _mm512_reduce_max_ps(m);
}
#else
bool have_avx512() {
  return false;
}
#endif

}  // namespace

void exp_shifted_cpu(float* out, const float* in, float shift, int64_t n) {
#if defined(__x86_64__)
  if (have_avx512()) return exp_avx512(out, in, 1.0f, shift, n);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(in[i] - shift);
}

void exp_negated_cpu(float* out, const float* in, int64_t n) {
#if defined(__x86_64__)
  if (have_avx512()) return exp_avx512(out, in, -1.0f, 0.0f, n);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(-in[i]);
}

double sum_exp_shifted_cpu(const float* in, float shift, int64_t n) {
#if defined(__x86_64__)
  if (have_avx512()) return sum_exp_avx512(in, shift, n);
#endif
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(in[i] - shift);
  return sum;
}

double exp_sum_flushed_cpu(float* out, const float* in, float shift, int64_t n) {
#if defined(__x86_64__)
  if (have_avx512()) return exp_sum_flushed_avx512(out, in, shift, n);
#endif
  double lanes[16] = {};  // (the AVX-512 path's order: lane i % 16, then lanes in turn)
  for (int64_t i = 0; i < n; ++i) {
    const float x = in[i] - shift;
    out[i] = x >= kFlushBelow ? std::exp(x) : 0.0f;
    lanes[i % 16] += out[i];
  }
  double sum = 0.0;
  for (double d : lanes) sum += d;
  return sum;
}

float max_cpu(const float* in, int64_t n) {
#if defined(__x86_64__)
  if (have_avx512() && n > 0) return max_avx512(in, n);
#endif
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = in[i] > m ? in[i] : m;
  return m;
}

}  // namespace kaito
