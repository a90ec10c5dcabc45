// add_rmsnorm_forward_cuda's kernel (kernels/cuda/rmsnorm.cu, Add = true) run on the CPU
// (tests/cuda/cuda_emulation.h) with the launcher's launch (8 rows of 256 threads a block), against
// the two kernels it replaces, run the same way: add_bf16_kernel (engine/cuda/train_ops.cu) then
// the plain rmsnorm forward. The contract says bit for bit: sum, out and rstd are compared exactly,
// on the vector path (C % 8 == 0) and the scalar one, with sum written over a (the residual stream
// updated in place, as the engine calls it), and loosely (1e-2) against the CPU twin. Then the
// decode form with a LoRA term added first (lora_decode_add_rmsnorm_cuda's kernel) against
// lora_decode_kernel followed by this kernel, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (launchers left out under KAITO_CUDA_EMULATE)
#include "engine/cuda/train_ops.cu"     // NOLINT
#include "kernels/cuda/lora_decode.cu"  // NOLINT
#include "kernels/cuda/rmsnorm.cu"      // NOLINT
#include "kernels/dtype.h"
#include "kernels/rmsnorm.h"

namespace kaito {
namespace {

using nv = __nv_bfloat16;

std::vector<bf16> random_bf16(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<bf16> v(n);
  for (bf16& x : v) x = f32_to_bf16(u(rng));
  return v;
}
nv* P(std::vector<bf16>& v) {
  return reinterpret_cast<nv*>(v.data());
}
const nv* P(const std::vector<bf16>& v) {
  return reinterpret_cast<const nv*>(v.data());
}

void run_case(int64_t N, int C, bool in_place) {
  std::mt19937 rng(unsigned(N * 1000 + C));
  const std::vector<bf16> a = random_bf16(rng, size_t(N * C), -2.0f, 2.0f),
                          b = random_bf16(rng, size_t(N * C), -1.0f, 1.0f),
                          w = random_bf16(rng, size_t(C), 0.5f, 1.5f);
  const float eps = 1e-5f;
  const bool vec = C % 8 == 0;
  const unsigned rows_grid = unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock);
  // unfused: sum = add_bf16(a, b); out = rmsnorm(sum)
  std::vector<bf16> sum_ref(a.size()), out_ref(a.size());
  std::vector<float> rstd_ref(size_t(N), NAN);
  emu::run(dim3(gpu::add_bf16_grid(N * C, vec)), gpu::kOpsThreads,
           [&] { gpu::add_bf16_kernel(P(sum_ref), P(a), P(b), N * C, vec); });
  emu::run(dim3(rows_grid), kRowsPerBlock * 32, [&] {
    if (vec)
      rmsnorm_forward_kernel<true, false>(P(out_ref), rstd_ref.data(), P(sum_ref), P(w), N, C, eps,
                                          nullptr, nullptr);
    else
      rmsnorm_forward_kernel<false, false>(P(out_ref), rstd_ref.data(), P(sum_ref), P(w), N, C, eps,
                                           nullptr, nullptr);
  });
  // fused, outputs poisoned first
  std::vector<bf16> a_io = a, sum(a.size(), f32_to_bf16(NAN)), out(a.size(), f32_to_bf16(NAN));
  std::vector<float> rstd(size_t(N), NAN);
  nv* sum_ptr = in_place ? P(a_io) : P(sum);
  emu::run(dim3(rows_grid), kRowsPerBlock * 32, [&] {
    if (vec)
      rmsnorm_forward_kernel<true, true>(P(out), rstd.data(), P(a_io), P(w), N, C, eps, sum_ptr,
                                         P(b));
    else
      rmsnorm_forward_kernel<false, true>(P(out), rstd.data(), P(a_io), P(w), N, C, eps, sum_ptr,
                                          P(b));
  });
  const std::vector<bf16>& got_sum = in_place ? a_io : sum;
  EXPECT_EQ(std::memcmp(got_sum.data(), sum_ref.data(), sum_ref.size() * 2), 0) << "sum";
  EXPECT_EQ(std::memcmp(out.data(), out_ref.data(), out_ref.size() * 2), 0) << "out";
  EXPECT_EQ(std::memcmp(rstd.data(), rstd_ref.data(), rstd.size() * 4), 0) << "rstd";
  // CPU twin: fp32 add, then rmsnorm_forward_cpu
  std::vector<float> s32(a.size()), w32(w.size()), o32(a.size()), r32(static_cast<size_t>(N));
  for (size_t i = 0; i < a.size(); ++i) s32[i] = bf16_to_f32(a[i]) + bf16_to_f32(b[i]);
  for (size_t i = 0; i < w.size(); ++i) w32[i] = bf16_to_f32(w[i]);
  rmsnorm_forward_cpu(o32.data(), r32.data(), s32.data(), w32.data(), N, C, eps);
  double err = 0.0, ref = 0.0;
  for (size_t i = 0; i < o32.size(); ++i) {
    err = std::max(err, double(std::fabs(bf16_to_f32(out[i]) - o32[i])));
    ref = std::max(ref, double(std::fabs(o32[i])));
  }
  EXPECT_LT(err / ref, 1e-2);
}

TEST(add_rmsnorm_emulation, vector_path_matches_add_then_norm_bit_for_bit) {
  run_case(11, 3072, false);
  run_case(9, 256, true);
}

TEST(add_rmsnorm_emulation, scalar_path_matches_add_then_norm_bit_for_bit) {
  run_case(5, 100, false);
  run_case(3, 77, true);
}

// lora_decode_add_rmsnorm_cuda's kernel (kernels/cuda/lora_decode.cu) against lora_decode_kernel
// (as lora_decode_cuda launches it: columns over C) then the add + norm kernel above, bit for bit
// in b (the LoRA term stored back), sum (in place over a, as the engine calls it), out and rstd.
void run_lora_case(int64_t N, int C, int IN, int R) {
  std::mt19937 rng(unsigned(N * 7 + C * 3 + IN + R));
  const std::vector<bf16> a = random_bf16(rng, size_t(N * C), -2.0f, 2.0f),
                          b = random_bf16(rng, size_t(N * C), -1.0f, 1.0f),
                          w = random_bf16(rng, size_t(C), 0.5f, 1.5f),
                          lx = random_bf16(rng, size_t(N * IN), -1.0f, 1.0f),
                          A = random_bf16(rng, size_t(R * IN), -0.2f, 0.2f),
                          Bl = random_bf16(rng, size_t(C * R), -0.5f, 0.5f);
  const float eps = 1e-5f, scale = 2.0f;
  const bool vec = C % 8 == 0, vec_l = IN % 8 == 0;
  const unsigned rows_grid = unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock);
  // unfused: b += LoRA (lora_decode_kernel), then x = bf16(x + b), h = rmsnorm(x)
  std::vector<bf16> b_ref = b, x_ref = a, out_ref(a.size());
  std::vector<float> rstd_ref(size_t(N), NAN);
  emu::run(dim3(unsigned((C + 255) / 256)), 256, [&] {
    vec_l ? lora_decode_kernel<true, false>(P(b_ref), P(lx), P(A), P(Bl), int(N), IN, R, C, scale,
                                            nullptr)
          : lora_decode_kernel<false, false>(P(b_ref), P(lx), P(A), P(Bl), int(N), IN, R, C, scale,
                                             nullptr);
  });
  emu::run(dim3(rows_grid), kRowsPerBlock * 32, [&] {
    vec ? rmsnorm_forward_kernel<true, true>(P(out_ref), rstd_ref.data(), P(x_ref), P(w), N, C, eps,
                                             P(x_ref), P(b_ref))
        : rmsnorm_forward_kernel<false, true>(P(out_ref), rstd_ref.data(), P(x_ref), P(w), N, C,
                                              eps, P(x_ref), P(b_ref));
  });
  // fused, outputs poisoned first
  std::vector<bf16> b_io = b, x_io = a, out(a.size(), f32_to_bf16(NAN));
  std::vector<float> rstd(size_t(N), NAN);
  emu::run(dim3(rows_grid), kNormRowsPerBlock * 32, [&] {
    if (vec)
      vec_l
          ? lora_add_rmsnorm_kernel<true, true>(P(x_io), P(out), rstd.data(), P(x_io), P(b_io),
                                                P(w), N, C, eps, P(lx), P(A), P(Bl), IN, R, scale)
          : lora_add_rmsnorm_kernel<true, false>(P(x_io), P(out), rstd.data(), P(x_io), P(b_io),
                                                 P(w), N, C, eps, P(lx), P(A), P(Bl), IN, R, scale);
    else
      vec_l
          ? lora_add_rmsnorm_kernel<false, true>(P(x_io), P(out), rstd.data(), P(x_io), P(b_io),
                                                 P(w), N, C, eps, P(lx), P(A), P(Bl), IN, R, scale)
          : lora_add_rmsnorm_kernel<false, false>(P(x_io), P(out), rstd.data(), P(x_io), P(b_io),
                                                  P(w), N, C, eps, P(lx), P(A), P(Bl), IN, R,
                                                  scale);
  });
  EXPECT_EQ(std::memcmp(b_io.data(), b_ref.data(), b_ref.size() * 2), 0) << "b (LoRA term)";
  EXPECT_EQ(std::memcmp(x_io.data(), x_ref.data(), x_ref.size() * 2), 0) << "sum";
  EXPECT_EQ(std::memcmp(out.data(), out_ref.data(), out_ref.size() * 2), 0) << "out";
  EXPECT_EQ(std::memcmp(rstd.data(), rstd_ref.data(), rstd.size() * 4), 0) << "rstd";
  size_t changed = 0;  // the LoRA term is big enough to tell
  for (size_t i = 0; i < b.size(); ++i) changed += b_io[i].bits != b[i].bits;
  EXPECT_GT(changed, b.size() / 2);
}

TEST(add_rmsnorm_emulation, lora_term_fused_matches_lora_decode_then_add_norm_bit_for_bit) {
  run_lora_case(1, 3072, 3072, 8);  // Phi-3's o / down at batch 1 (IN 3072)
  run_lora_case(10, 256, 128, 8);   // two blocks, the second partial
  run_lora_case(3, 100, 40, 4);     // scalar norm path; lx vector loads
  run_lora_case(2, 96, 36, 4);      // vector norm path; scalar lx loads
}

}  // namespace
}  // namespace kaito
