// lora_decode_kernel (kernels/cuda/lora_decode.cu) run on the CPU (tests/cuda/cuda_emulation.h)
// with lora_decode_cuda's launch (grid over OUT, 256 threads), against lora_forward_cpu (the CPU
// twin, fp32) on bf16-rounded inputs: both the vector path (IN % 8 == 0) and the scalar path,
// batch rows 1..16, ranks 4..64, a grid-stride case (OUT above 1024 blocks' worth is not needed:
// the test forces a small grid), and y accumulated (+=) onto a non-zero base output. Inputs and
// outputs are separate allocations, so AddressSanitizer catches a read past any of them. The
// fused gate_up form (lora_decode_swiglu_cuda) against lora_decode + swiglu_forward_kernel
// (kernels/cuda/swiglu.cu, emulated too), bit for bit, and against the CPU twins.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "kernels/cuda/lora_decode.cu"  // NOLINT
#include "kernels/cuda/swiglu.cu"       // NOLINT
#include "kernels/dtype.h"
#include "kernels/lora.h"
#include "kernels/swiglu.h"

namespace kaito {
namespace {

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
  return out;
}
std::vector<float> widen(const std::vector<bf16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(v[i]);
  return out;
}
std::vector<float> uniform(std::mt19937& rng, size_t n, float a) {
  std::uniform_real_distribution<float> u(-a, a);
  std::vector<float> v(n);
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(u(rng)));  // bf16-exact, as the GPU holds them
  return v;
}

// max |got - ref| / max |ref|
double rel(const std::vector<float>& ref, const std::vector<float>& got) {
  double e = 0.0, m = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    e = std::max(e, double(std::fabs(got[i] - ref[i])));
    m = std::max(m, double(std::fabs(ref[i])));
  }
  return m > 0 ? e / m : e;
}

void run_case(int64_t N, int64_t IN, int64_t R, int64_t OUT, unsigned grid_cap) {
  std::mt19937 rng(unsigned(N * 131 + IN * 7 + R * 3 + OUT));
  const float scale = 2.0f;
  const std::vector<float> x = uniform(rng, size_t(N * IN), 1.0f),
                           A = uniform(rng, size_t(R * IN), 1.0f / std::sqrt(float(IN))),
                           B = uniform(rng, size_t(OUT * R), 0.5f),
                           y0 = uniform(rng, size_t(N * OUT), 1.0f);
  // CPU twin in fp32 on the same (bf16-exact) values
  std::vector<float> want = y0, xd(size_t(N * IN)), z(size_t(N * R));
  lora_forward_cpu(want.data(), xd.data(), z.data(), x.data(), A.data(), B.data(), N, IN, R, OUT,
                   scale, 0.0f, 0);
  std::vector<bf16> yb = to_bf16(y0);
  const std::vector<bf16> xb = to_bf16(x), Ab = to_bf16(A), Bb = to_bf16(B);
  const unsigned grid = std::min<unsigned>(unsigned((OUT + 255) / 256), grid_cap);
  const bool vec = IN % 8 == 0;
  emu::run(dim3(grid), kDecodeThreads, [&] {
    auto* yp = reinterpret_cast<__nv_bfloat16*>(yb.data());
    auto* xp = reinterpret_cast<const __nv_bfloat16*>(xb.data());
    auto* ap = reinterpret_cast<const __nv_bfloat16*>(Ab.data());
    auto* bp = reinterpret_cast<const __nv_bfloat16*>(Bb.data());
    if (vec)
      lora_decode_kernel<true, false>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                      nullptr);
    else
      lora_decode_kernel<false, false>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                       nullptr);
  });
  const std::vector<float> got = widen(yb);
  const double err = rel(want, got);
  EXPECT_LT(err, 1e-2) << "N=" << N << " IN=" << IN << " R=" << R << " OUT=" << OUT;
  // the LoRA term really landed: compare against the untouched base output too
  EXPECT_GT(rel(want, y0), 10 * err) << "the LoRA contribution is too small to tell";
}

// lora_decode_swiglu: the fused gate_up form, OUT = 2I, launched over the I column pairs. Its y
// and act must equal, bit for bit, lora_decode_kernel followed by swiglu_forward_kernel (as
// lora_decode_cuda + swiglu_forward_cuda launch them), and match the CPU twins
// (lora_forward_cpu, swiglu_forward_cpu) within bf16 tolerance.
void run_swiglu_case(int64_t N, int64_t IN, int64_t R, int64_t I, unsigned grid_cap) {
  const int64_t OUT = 2 * I;
  std::mt19937 rng(unsigned(N * 17 + IN * 5 + R * 11 + I));
  const float scale = 2.0f;
  const std::vector<float> x = uniform(rng, size_t(N * IN), 1.0f),
                           A = uniform(rng, size_t(R * IN), 1.0f / std::sqrt(float(IN))),
                           B = uniform(rng, size_t(OUT * R), 0.5f),
                           y0 = uniform(rng, size_t(N * OUT), 2.0f);
  std::vector<float> want_y = y0, xd(size_t(N * IN)), z(size_t(N * R)), want_act(size_t(N * I));
  lora_forward_cpu(want_y.data(), xd.data(), z.data(), x.data(), A.data(), B.data(), N, IN, R, OUT,
                   scale, 0.0f, 0);
  for (float& v : want_y) v = bf16_to_f32(f32_to_bf16(v));  // the GPU stores y in bf16
  for (int64_t n = 0; n < N; ++n)
    swiglu_forward_cpu(want_act.data() + n * I, want_y.data() + n * OUT,
                       want_y.data() + n * OUT + I, 1, I, I);
  const std::vector<bf16> xb = to_bf16(x), Ab = to_bf16(A), Bb = to_bf16(B);
  auto* xp = reinterpret_cast<const __nv_bfloat16*>(xb.data());
  auto* ap = reinterpret_cast<const __nv_bfloat16*>(Ab.data());
  auto* bp = reinterpret_cast<const __nv_bfloat16*>(Bb.data());
  const bool vec = IN % 8 == 0;
  // unfused: lora_decode over OUT columns, then swiglu_forward per row
  std::vector<bf16> y1 = to_bf16(y0), act1(size_t(N * I), bf16{0x7fc1});
  emu::run(dim3(std::min<unsigned>(unsigned((OUT + 255) / 256), grid_cap)), kDecodeThreads, [&] {
    auto* yp = reinterpret_cast<__nv_bfloat16*>(y1.data());
    vec ? lora_decode_kernel<true, false>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                          nullptr)
        : lora_decode_kernel<false, false>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                           nullptr);
  });
  emu::run(dim3(unsigned(N)), threads_for(I), [&] {
    auto* yp = reinterpret_cast<const __nv_bfloat16*>(y1.data());
    swiglu_forward_kernel(reinterpret_cast<__nv_bfloat16*>(act1.data()), yp, yp + I, int(I), OUT);
  });
  // fused: one launch over the I column pairs (act poisoned first)
  std::vector<bf16> y2 = to_bf16(y0), act2(size_t(N * I), bf16{0x7fc1});
  emu::run(dim3(std::min<unsigned>(unsigned((I + 255) / 256), grid_cap)), kDecodeThreads, [&] {
    auto* yp = reinterpret_cast<__nv_bfloat16*>(y2.data());
    auto* actp = reinterpret_cast<__nv_bfloat16*>(act2.data());
    vec ? lora_decode_kernel<true, true>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                         actp)
        : lora_decode_kernel<false, true>(yp, xp, ap, bp, int(N), int(IN), int(R), int(OUT), scale,
                                          actp);
  });
  for (size_t i = 0; i < y1.size(); ++i)
    ASSERT_EQ(y1[i].bits, y2[i].bits) << "y[" << i << "]: fused and unfused differ";
  for (size_t i = 0; i < act1.size(); ++i)
    ASSERT_EQ(act1[i].bits, act2[i].bits) << "act[" << i << "]: fused and unfused differ";
  EXPECT_LT(rel(want_y, widen(y2)), 1e-2) << "y vs lora_forward_cpu";
  EXPECT_LT(rel(want_act, widen(act2)), 1e-2) << "act vs swiglu_forward_cpu";
}

TEST(lora_decode_emulation, swiglu_fused_equals_lora_then_swiglu) {
  run_swiglu_case(1, 3072, 8, 320, 1024);  // gate_up-like at batch 1 (I shortened: slow emulation)
  run_swiglu_case(16, 256, 8, 96, 1024);   // batch 16
  run_swiglu_case(3, 200, 4, 33, 1024);    // scalar loads, I not a multiple of 32
  run_swiglu_case(2, 512, 8, 300, 1);      // one block strides over all 300 pairs
}

TEST(lora_decode_emulation, vector_path_phi3_shapes) {
  run_case(1, 3072, 8, 640, 1024);  // qkv-like (OUT shortened: the emulation is slow)
  run_case(2, 1024, 8, 300, 1024);
}

TEST(lora_decode_emulation, batch_16_and_rank_64) {
  run_case(16, 256, 8, 96, 1024);
  run_case(3, 128, 64, 64, 1024);
}

TEST(lora_decode_emulation, scalar_path_and_grid_stride) {
  run_case(3, 200, 4, 33, 1024);  // IN % 8 != 0: scalar loads
  run_case(2, 512, 8, 700, 1);    // one block strides over all 700 columns
}

}  // namespace
}  // namespace kaito
