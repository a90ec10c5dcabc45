// The tensor-core attention forward (kernels/cuda/attention_mma.cu) runs on the CPU
// (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a fiber per CUDA
// thread) with cp.async, ldmatrix (.trans) and mma.sync m16n8k16 emulated per the PTX ISA
// (tests/cuda/mma_emulation.h), over the grid and shared-memory size the launcher uses
// (mma_forward_grid, mma_layout<HS>::SmemBytes), against the CPU twin attention_forward_cpu on
// bf16-exact inputs: out within 1e-2 and lse within 1e-4 (max |got - ref| / max |ref|, as
// parity_test measures). Cases: T = 1, a ragged single tile (17), two query and key tiles (70),
// three tiles with a window that skips whole key tiles (150, window 20) or cuts a tile below the
// diagonal (window 75), MHA, GQA and MQA, HS 64,
// 96 and 128, sliding windows, B = 2, cp.async copies landing lazily (at the retiring wait) and
// eagerly (at issue). Outputs carry a NaN guard band, shared memory starts as NaN (0xFF bytes),
// so unwritten outputs, stray writes and reads of unloaded tiles fail the case.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
#include "tests/cuda/emulation_data.h"
#include "tests/cuda/mma_emulation.h"

// the kernel under test (its launcher is left out under KAITO_CUDA_EMULATE)
#include "kernels/attention.h"
#include "kernels/cuda/attention_mma.cu"  // NOLINT

namespace kaito {
namespace {

using nv = __nv_bfloat16;
constexpr double kOutTol = 1e-2;  // parity_test's kBf16
constexpr double kLseTol = 1e-4;  // parity_test's kF32
constexpr int64_t kGuard = 64;    // NaN elements after each output

using testing::random_bf16;

// max |got - ref| / max |ref| over n values; infinity if a value or the guard band after it is
// not what it should be (NaN inside = unwritten, non-NaN after = written past the end).
template <class Get>
double rel_err(const std::vector<float>& ref, int64_t n, Get got) {
  double max_ref = 0.0, max_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = got(i);
    if (std::isnan(x)) return INFINITY;
    max_ref = std::max(max_ref, std::fabs(double(ref[size_t(i)])));
    max_err = std::max(max_err, std::fabs(x - ref[size_t(i)]));
  }
  for (int64_t i = n; i < n + kGuard; ++i)
    if (!std::isnan(got(i))) return INFINITY;
  return max_err / max_ref;
}

struct errors {
  double out, lse;
};

errors run_case(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                bool eager, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<nv> qb, kb, vb;
  const auto q = random_bf16(rng, B * T * NH * HS, 1.5f, qb);
  const auto k = random_bf16(rng, B * T * NKV * HS, 1.5f, kb);
  const auto v = random_bf16(rng, B * T * NKV * HS, 1.0f, vb);
  const float scale = 1.0f / std::sqrt(float(HS));
  std::vector<float> ref_out(size_t(B * T * NH * HS)), ref_lse(size_t(B * NH * T));
  attention_forward_cpu(ref_out.data(), ref_lse.data(), q.data(), k.data(), v.data(), B, T, NH, NKV,
                        HS, scale, window);

  const int64_t n_out = B * T * NH * HS, n_lse = B * NH * T;
  std::vector<nv> out(size_t(n_out + kGuard));
  std::memset(out.data(), 0xFF, out.size() * sizeof(nv));
  std::vector<float> lse(size_t(n_lse + kGuard), std::numeric_limits<float>::quiet_NaN());

  const mma_attn_shape s = make_mma_attn_shape(T, NH, NKV, scale, window);
  int smem_bytes = 0;
  switch (HS) {
    case 64:
      smem_bytes = mma_layout<64>::SmemBytes;
      break;
    case 96:
      smem_bytes = mma_layout<96>::SmemBytes;
      break;
    default:
      smem_bytes = mma_layout<128>::SmemBytes;
      break;
  }
  EXPECT_LE(size_t(smem_bytes), sizeof(smem));
  emu::eager_copies = eager;
  emu::run(
      mma_forward_grid(B, s), kMmaThreads,
      [&] {
        switch (HS) {
          case 64:
            attn_forward_mma_kernel<64>(out.data(), lse.data(), qb.data(), kb.data(), vb.data(), s);
            break;
          case 96:
            attn_forward_mma_kernel<96>(out.data(), lse.data(), qb.data(), kb.data(), vb.data(), s);
            break;
          default:
            attn_forward_mma_kernel<128>(out.data(), lse.data(), qb.data(), kb.data(), vb.data(),
                                         s);
            break;
        }
        EXPECT_TRUE(nf4_mma::queues().empty()) << "cp.async copies left pending at exit";
      },
      [] { nf4_mma::queues().clear(); },
      [&] { std::memset(smem, 0xFF, size_t(smem_bytes)); });  // NaN: stale data of another block

  errors e;
  e.out =
      rel_err(ref_out, n_out, [&](int64_t i) { return double(__bfloat162float(out[size_t(i)])); });
  e.lse = rel_err(ref_lse, n_lse, [&](int64_t i) { return double(lse[size_t(i)]); });
  return e;
}

struct mma_case {
  int64_t B, T, NH, NKV, HS, window;
  bool eager;
};

class attention_mma_emulation : public ::testing::TestWithParam<mma_case> {};

TEST_P(attention_mma_emulation, forward_matches_cpu_twin) {
  const mma_case c = GetParam();
  const errors e = run_case(c.B, c.T, c.NH, c.NKV, c.HS, c.window, c.eager,
                            uint32_t(1000 + c.T * 7 + c.HS + c.window + c.NKV));
  EXPECT_LT(e.out, kOutTol);
  EXPECT_LT(e.lse, kLseTol);
}

INSTANTIATE_TEST_SUITE_P(
    shapes, attention_mma_emulation,
    ::testing::Values(mma_case{1, 1, 4, 2, 64, 0, false},     // one row, GQA
                      mma_case{2, 17, 4, 4, 96, 0, false},    // ragged tile, Phi-3 head size, B=2
                      mma_case{1, 17, 4, 2, 96, 9, true},     // window, eager copies
                      mma_case{1, 70, 4, 2, 96, 0, false},    // 2 query x 2 key tiles
                      mma_case{2, 70, 4, 4, 64, 9, false},    // window across tiles, B=2
                      mma_case{1, 70, 4, 4, 64, 0, true},     // eager copies, double buffer
                      mma_case{1, 40, 4, 1, 128, 0, false},   // MQA, HS 128
                      mma_case{1, 150, 2, 1, 64, 20, false},  // window skips key tiles
                      mma_case{1, 150, 2, 2, 96, 75,
                               false}),  // window edge inside a causal-full tile
    [](const auto& info) {
      const mma_case& c = info.param;
      return "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) + "_NKV" +
             std::to_string(c.NKV) + "_HS" + std::to_string(c.HS) + "_w" +
             std::to_string(c.window) + (c.eager ? "_eager" : "_lazy");
    });

}  // namespace
}  // namespace kaito
