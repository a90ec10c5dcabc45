// LoRA CPU twin (contract: kernels/lora.h): fp32 through sgemm_cpu, counter-based dropout masks.
#include "kernels/lora.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/rng.h"

namespace kaito {

double lora_scale(double alpha, int64_t r, bool use_rslora) {
  return use_rslora ? alpha / std::sqrt(double(r)) : alpha / double(r);
}

double lora_init_bound(int64_t IN) {
  // torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)): gain = sqrt(2 / (1 + a^2)),
  // std = gain / sqrt(fan_in), bound = sqrt(3) * std
  double a = std::sqrt(5.0);
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  return std::sqrt(3.0) * (gain / std::sqrt(double(IN)));
}

void lora_init_cpu(float* A, float* B, int64_t R, int64_t IN, int64_t OUT, uint64_t seed) {
  double bound = lora_init_bound(IN);
  for (int64_t e = 0; e < R * IN; ++e)  // A[r, c] with e = r*IN + c
    A[e] = float(-bound + 2.0 * bound * double(rng_uniform(seed, uint64_t(e))));
  std::fill(B, B + OUT * R, 0.0f);
}

namespace {
float keep_scale(float p) {
  return 1.0f / float(1.0 - double(p));
}  // noise.div_(1 - p)
}  // namespace

void dropout_forward_cpu(float* out, const float* inp, int64_t n, float p, uint64_t seed) {
  if (p <= 0.0f) {
    std::copy(inp, inp + n, out);
    return;
  }
  if (p >= 1.0f) {
    std::fill(out, out + n, 0.0f);
    return;
  }
  float scale = keep_scale(p);
  for (int64_t e = 0; e < n; ++e)
    out[e] = rng_uniform(seed, uint64_t(e)) >= p ? inp[e] * scale : 0.0f;
}

void lora_forward_cpu(float* y, float* xd, float* z, const float* x, const float* A, const float* B,
                      int64_t N, int64_t IN, int64_t R, int64_t OUT, float scale, float dropout_p,
                      uint64_t seed) {
  lora_forward_strided_cpu(y, OUT, xd, z, x, A, B, N, IN, R, OUT, scale, dropout_p, seed);
}

void lora_forward_strided_cpu(float* y, int64_t ldy, float* xd, float* z, const float* x,
                              const float* A, const float* B, int64_t N, int64_t IN, int64_t R,
                              int64_t OUT, float scale, float dropout_p, uint64_t seed) {
  const float* xin = x;
  if (dropout_p > 0.0f || xd != nullptr) {
    KAITO_CHECK(xd != nullptr, "lora_forward: dropout needs an xd buffer");
    dropout_forward_cpu(xd, x, N * IN, dropout_p, seed);
    xin = xd;
  }
  // z(N,R) = xd(N,IN) · A(R,IN)ᵀ
  sgemm_cpu(false, true, N, R, IN, 1.0f, xin, IN, A, IN, 0.0f, z, R);
  // y(N,OUT) += s * z(N,R) · B(OUT,R)ᵀ
  sgemm_cpu(false, true, N, OUT, R, scale, z, R, B, R, 1.0f, y, ldy);
}

void lora_backward_cpu(float* dx, float* dA, float* dB, float* dz, const float* dy, const float* xd,
                       const float* z, const float* A, const float* B, int64_t N, int64_t IN,
                       int64_t R, int64_t OUT, float scale, float dropout_p, uint64_t seed) {
  lora_backward_strided_cpu(dx, dA, dB, dz, dy, OUT, xd, z, A, B, N, IN, R, OUT, scale, dropout_p,
                            seed);
}

void lora_backward_strided_cpu(float* dx, float* dA, float* dB, float* dz, const float* dy,
                               int64_t ldy, const float* xd, const float* z, const float* A,
                               const float* B, int64_t N, int64_t IN, int64_t R, int64_t OUT,
                               float scale, float dropout_p, uint64_t seed) {
  // dB(OUT,R) += s * dy(N,OUT)ᵀ · z(N,R)
  sgemm_cpu(true, false, OUT, R, N, scale, dy, ldy, z, R, 1.0f, dB, R);
  // dz(N,R) = s * dy(N,OUT) · B(OUT,R)
  sgemm_cpu(false, false, N, R, OUT, scale, dy, ldy, B, R, 0.0f, dz, R);
  // dA(R,IN) += dz(N,R)ᵀ · xd(N,IN)
  sgemm_cpu(true, false, R, IN, N, 1.0f, dz, R, xd, IN, 1.0f, dA, IN);
  // dx(N,IN) += dropout'(dz · A)
  if (dx == nullptr) return;
  if (dropout_p <= 0.0f) {
    sgemm_cpu(false, false, N, IN, R, 1.0f, dz, R, A, IN, 1.0f, dx, IN);
    return;
  }
  if (dropout_p >= 1.0f) return;  // everything dropped: no gradient reaches x through LoRA
  std::vector<float> dxd(static_cast<size_t>(N * IN));
  sgemm_cpu(false, false, N, IN, R, 1.0f, dz, R, A, IN, 0.0f, dxd.data(), IN);
  float ks = keep_scale(dropout_p);
  for (int64_t e = 0; e < N * IN; ++e)
    if (rng_uniform(seed, uint64_t(e)) >= dropout_p) dx[e] += dxd[size_t(e)] * ks;
}

bool lora_blocks_valid(const lora_blocks& b, int64_t OUT, int64_t R) {
  if (b.nseg < 1 || b.nseg > kLoraMaxBlocks || R <= 0 || R % b.nseg != 0) return false;
  int64_t prev = 0;
  for (int s = 0; s < b.nseg; ++s) {
    if (b.seg_end[s] <= prev) return false;
    prev = b.seg_end[s];
  }
  return prev == OUT;
}

void lora_block_mask_cpu(float* dB, int64_t OUT, int64_t R, const lora_blocks& b) {
  KAITO_CHECK(lora_blocks_valid(b, OUT, R), "lora_block_mask_cpu: bad blocks for OUT=", OUT,
              " R=", R);
  const int64_t r = R / b.nseg;
  int seg = 0;
  for (int64_t o = 0; o < OUT; ++o) {
    while (o >= b.seg_end[seg]) ++seg;
    for (int64_t k = 0; k < R; ++k)
      if (k / r != seg) dB[o * R + k] = 0.0f;
  }
}

}  // namespace kaito
