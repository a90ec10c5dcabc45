// RoPE CPU twin and HF inverse frequencies (contract: kernels/rope.h). Every fp32 step mirrors the
// torch expression it comes from; python scalars are rounded to fp32 where torch does so.
#include "kernels/rope.h"

#include <cmath>
#include <numbers>

#include "base/check.h"
#include "kernels/parallel_for.h"

namespace kaito {

double rope_longrope_attention_factor(double factor, int64_t original_max_position_embeddings) {
  if (factor <= 1.0) return 1.0;
  return std::sqrt(1.0 + std::log(factor) / std::log(double(original_max_position_embeddings)));
}

double rope_attention_factor(const rope_params& p) {
  if (p.kind != rope_kind::longrope) return 1.0;
  if (p.attention_factor >= 0.0) return p.attention_factor;
  // HF: Phi-3 uses max_position_embeddings / original_max_position_embeddings, not `factor`
  double factor =
      (p.original_max_position_embeddings > 0 && p.max_position_embeddings > 0)
          ? double(p.max_position_embeddings) / double(p.original_max_position_embeddings)
          : p.factor;
  int64_t orig = p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings
                                                        : p.max_position_embeddings;
  return rope_longrope_attention_factor(factor, orig);
}

std::vector<float> rope_inv_freq(const rope_params& p, int64_t seq_len) {
  const int64_t D = p.head_dim;
  KAITO_CHECK(D > 0 && D % 2 == 0, "rope head_dim must be even and positive, got ", D);
  const int64_t H = D / 2;
  const float base = float(p.theta);
  std::vector<float> inv(static_cast<size_t>(H));
  // base ** (arange(0, D, 2).float() / D): fp32 exponent, fp32 pow
  auto base_pow = [&](int64_t i) { return std::pow(base, float(2 * i) / float(D)); };
  switch (p.kind) {
    case rope_kind::default_rope:
      for (int64_t i = 0; i < H; ++i) inv[i] = 1.0f / base_pow(i);
      break;
    case rope_kind::longrope: {
      int64_t orig = p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings
                                                            : p.max_position_embeddings;
      const std::vector<float>& ext = seq_len > orig ? p.long_factor : p.short_factor;
      KAITO_CHECK(int64_t(ext.size()) == H, "longrope factors: ", ext.size(), " values for ",
                  "head_dim/2 = ", H);
      for (int64_t i = 0; i < H; ++i) inv[i] = 1.0f / (ext[i] * base_pow(i));
      break;
    }
    case rope_kind::llama3: {
      const double orig = double(p.original_max_position_embeddings);
      const float low_wavelen = float(orig / p.low_freq_factor);
      const float high_wavelen = float(orig / p.high_freq_factor);
      const float factor = float(p.factor);
      const float two_pi = float(2.0 * std::numbers::pi);
      for (int64_t i = 0; i < H; ++i) {
        float f = 1.0f / base_pow(i);
        float wavelen =
            (1.0f / f) * two_pi;  // torch: scalar / tensor = tensor.reciprocal() * scalar
        float llama = wavelen > low_wavelen ? f / factor : f;
        float smooth = ((1.0f / wavelen) * float(orig) - float(p.low_freq_factor)) /
                       float(p.high_freq_factor - p.low_freq_factor);
        float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
        bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        inv[i] = medium ? smoothed : llama;
      }
      break;
    }
  }
  return inv;
}

void rope_cos_sin_cpu(float* cos, float* sin, const int32_t* pos, const float* inv_freq,
                      float attention_factor, int64_t N, int64_t RD) {
  const int64_t H = RD / 2;
  for (int64_t n = 0; n < N; ++n) {
    float* c = cos + n * RD;  // cos[n,:]
    float* s = sin + n * RD;  // sin[n,:]
    for (int64_t j = 0; j < H; ++j) {
      float f = float(pos[n]) * inv_freq[j];  // freqs = inv_freq @ pos: one fp32 product
      float cv = std::cos(f) * attention_factor;
      float sv = std::sin(f) * attention_factor;
      c[j] = c[j + H] = cv;  // emb = cat(freqs, freqs)
      s[j] = s[j + H] = sv;
    }
  }
}

namespace {

void check_rope_shape(int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  KAITO_CHECK(N >= 0 && NH > 0 && HS > 0 && RD >= 2 && RD % 2 == 0 && RD <= HS,
              "rope: bad shape N=", N, " NH=", NH, " HS=", HS, " RD=", RD);
}

// The rotation (forward) or its transpose (backward) of the first RD dims of every head, the rest
// copied; in place allowed (both elements of a pair are read before either is written).
template <bool Backward>
void rope_cpu(float* out, const float* inp, const float* cos, const float* sin, int64_t N,
              int64_t NH, int64_t HS, int64_t RD) {
  check_rope_shape(N, NH, HS, RD);
  const int64_t H = RD / 2;
  parallel_for(N, parallel_grain(6 * NH * HS), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* c = cos + n * RD;
      const float* s = sin + n * RD;
      for (int64_t h = 0; h < NH; ++h) {
        const float* x = inp + (n * NH + h) * HS;  // inp[n,h,:]
        float* o = out + (n * NH + h) * HS;        // out[n,h,:] (may be x)
        for (int64_t j = 0; j < H; ++j) {
          const float x1 = x[j], x2 = x[j + H];
          if (!Backward) {  // q * cos + rotate_half(q) * sin, rotate_half = cat(-x2, x1)
            o[j] = x1 * c[j] + (-x2) * s[j];
            o[j + H] = x2 * c[j + H] + x1 * s[j + H];
          } else {  // the transpose: rotation by -angle
            o[j] = x1 * c[j] + x2 * s[j + H];
            o[j + H] = x2 * c[j + H] - x1 * s[j];
          }
        }
        for (int64_t d = RD; d < HS; ++d) o[d] = x[d];  // partial rotary's q_pass
      }
    }
  });
}

}  // namespace

void rope_forward_cpu(float* out, const float* inp, const float* cos, const float* sin, int64_t N,
                      int64_t NH, int64_t HS, int64_t RD) {
  rope_cpu<false>(out, inp, cos, sin, N, NH, HS, RD);
}

void rope_backward_cpu(float* dinp, const float* dout, const float* cos, const float* sin,
                       int64_t N, int64_t NH, int64_t HS, int64_t RD) {
  rope_cpu<true>(dinp, dout, cos, sin, N, NH, HS, RD);
}

}  // namespace kaito
