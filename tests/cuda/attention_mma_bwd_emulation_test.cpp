// The tensor-core attention backward (kernels/cuda/attention_mma_bwd.cu) runs on the CPU
// (tests/cuda/cuda_emulation.h: the .cu compiled by the host compiler, a fiber per CUDA
// thread) with cp.async, ldmatrix (.trans) and mma.sync m16n8k16 emulated per the PTX ISA
// (tests/cuda/mma_emulation.h): the launcher's three kernels in its order (delta, dk/dv, dq) over
// the grids and shared-memory sizes it uses (attn_delta::grid, mma_dkdv_grid, mma_dq_grid,
// bwd_layout<HS>), against the CPU twin attention_backward_cpu on bf16-exact inputs, starting
// from the CPU forward's lse and its output rounded to bf16 (parity_cases_attention.cu's recipe):
// dq, dk, dv within 1e-2 (max |got - ref| / max |ref|, as parity_test measures). Cases: T = 1,
// a ragged single tile (17), two query and key tiles (70), MHA, GQA (the dk/dv block walks every
// query head of its group) and MQA, HS 64, 96 and 128, sliding windows inside a tile and across
// tiles (whole tiles skipped; windows at the edges of the tile ranges and of the unmasked-block
// tests), B = 2, cp.async copies landing lazily and eagerly. Outputs and D carry a NaN guard band
// and start as NaN, shared memory starts as NaN (0xFF bytes) for every block, so unwritten outputs,
// stray writes and reads of unloaded tiles fail the case.
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

// the kernels under test (the launcher is left out under KAITO_CUDA_EMULATE)
#include "kernels/attention.h"
#include "kernels/cuda/attention_mma_bwd.cu"  // NOLINT

namespace kaito {
namespace {

using nv = __nv_bfloat16;
constexpr double kTol = 1e-2;   // parity_test's kBf16
constexpr int64_t kGuard = 64;  // NaN elements after each output
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Denominator floor: with one visible key (T = 1) p = 1 and ds = p (dp - D) vanishes, so dq and dk
// are ~0 (D from the bf16-rounded output) and are held to 1e-2 * 1e-2 absolutely.
constexpr double kRefFloor = 1e-2;

using testing::random_bf16;

// max |got - ref| / max(max |ref|, kRefFloor) over n values; infinity if a value or the guard band
// after it is not what it should be (NaN inside = unwritten, non-NaN after = written past the end).
double rel_err(const std::vector<float>& ref, const std::vector<nv>& got) {
  const size_t n = ref.size();
  double max_ref = 0.0, max_err = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double x = __bfloat162float(got[i]);
    if (std::isnan(x)) return INFINITY;
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    max_err = std::max(max_err, std::fabs(x - ref[i]));
  }
  for (size_t i = n; i < got.size(); ++i)
    if (!std::isnan(__bfloat162float(got[i]))) return INFINITY;
  return max_err / std::max(max_ref, kRefFloor);
}

std::vector<nv> nan_bf16(int64_t n) {
  std::vector<nv> v(size_t(n + kGuard));
  std::memset(v.data(), 0xFF, v.size() * sizeof(nv));
  return v;
}

template <int HS>
void run_kernels(nv* dq, nv* dk, nv* dv, const nv* dout, const float* lse, const float* D,
                 const nv* q, const nv* k, const nv* v, int64_t B, const mma_bwd_shape& s) {
  using L = bwd_layout<HS>;
  ASSERT_LE(size_t(L::DkdvSmemBytes), sizeof(smem));
  ASSERT_LE(size_t(L::DqSmemBytes), sizeof(smem));
  const auto clear = [] { nf4_mma::queues().clear(); };
  const auto pending = [] {
    EXPECT_TRUE(nf4_mma::queues().empty()) << "cp.async copies left pending at exit";
  };
  emu::run(
      mma_dkdv_grid(B, s), kBwdThreads,
      [&] {
        attn_backward_dkdv_mma_kernel<HS>(dk, dv, dout, lse, D, q, k, v, s);
        pending();
      },
      clear, [&] { std::memset(smem, 0xFF, size_t(L::DkdvSmemBytes)); });
  emu::run(
      mma_dq_grid(B, s), kBwdThreads,
      [&] {
        attn_backward_dq_mma_kernel<HS>(dq, dout, lse, D, q, k, v, s);
        pending();
      },
      clear, [&] { std::memset(smem, 0xFF, size_t(L::DqSmemBytes)); });
}

struct grads_err {
  double dq, dk, dv;
};

grads_err run_case(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, int64_t window,
                   bool eager, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t nq = B * T * NH * HS, nkv = B * T * NKV * HS;
  std::vector<nv> qb, kb, vb, dob;
  const auto q = random_bf16(rng, nq, 1.5f, qb);
  const auto k = random_bf16(rng, nkv, 1.5f, kb);
  const auto v = random_bf16(rng, nkv, 1.0f, vb);
  const auto dout = random_bf16(rng, nq, 1.0f, dob);
  const float scale = 1.0f / std::sqrt(float(HS));

  // the forward both twins' backward starts from: fp32 lse, output rounded to bf16
  std::vector<float> o(static_cast<size_t>(nq)), lse(static_cast<size_t>(B * NH * T));
  attention_forward_cpu(o.data(), lse.data(), q.data(), k.data(), v.data(), B, T, NH, NKV, HS,
                        scale, window);
  std::vector<nv> ob(o.size());
  for (size_t i = 0; i < o.size(); ++i) {
    ob[i] = __float2bfloat16_rn(o[i]);
    o[i] = __bfloat162float(ob[i]);
  }
  std::vector<float> ref_dq(static_cast<size_t>(nq)), ref_dk(static_cast<size_t>(nkv)),
      ref_dv(static_cast<size_t>(nkv));
  attention_backward_cpu(ref_dq.data(), ref_dk.data(), ref_dv.data(), dout.data(), o.data(),
                         lse.data(), q.data(), k.data(), v.data(), B, T, NH, NKV, HS, scale,
                         window);

  std::vector<nv> dq = nan_bf16(nq), dk = nan_bf16(nkv), dv = nan_bf16(nkv);
  const int64_t rows = B * T * NH;
  std::vector<float> D(size_t(rows + kGuard), kNaN);
  const mma_bwd_shape s = make_mma_bwd_shape(T, NH, NKV, scale, window);
  emu::eager_copies = eager;
  emu::run(attn_delta::grid(rows), attn_delta::kThreads, [&] {
    attn_delta::kernel(D.data(), dob.data(), ob.data(), rows, int(T), int(NH), int(HS));
  });
  for (int64_t i = rows; i < rows + kGuard; ++i) EXPECT_TRUE(std::isnan(D[size_t(i)])) << i;
  switch (HS) {
    case 64:
      run_kernels<64>(dq.data(), dk.data(), dv.data(), dob.data(), lse.data(), D.data(), qb.data(),
                      kb.data(), vb.data(), B, s);
      break;
    case 96:
      run_kernels<96>(dq.data(), dk.data(), dv.data(), dob.data(), lse.data(), D.data(), qb.data(),
                      kb.data(), vb.data(), B, s);
      break;
    default:
      run_kernels<128>(dq.data(), dk.data(), dv.data(), dob.data(), lse.data(), D.data(), qb.data(),
                       kb.data(), vb.data(), B, s);
      break;
  }
  return {rel_err(ref_dq, dq), rel_err(ref_dk, dk), rel_err(ref_dv, dv)};
}

struct bwd_case {
  int64_t B, T, NH, NKV, HS, window;
  bool eager;
};

class attention_mma_bwd_emulation : public ::testing::TestWithParam<bwd_case> {};

TEST_P(attention_mma_bwd_emulation, backward_matches_cpu_twin) {
  const bwd_case c = GetParam();
  const grads_err e = run_case(c.B, c.T, c.NH, c.NKV, c.HS, c.window, c.eager,
                               uint32_t(2000 + c.T * 7 + c.HS + c.window + c.NKV));
  EXPECT_LT(e.dq, kTol);
  EXPECT_LT(e.dk, kTol);
  EXPECT_LT(e.dv, kTol);
}

INSTANTIATE_TEST_SUITE_P(
    shapes, attention_mma_bwd_emulation,
    ::testing::Values(
        bwd_case{1, 1, 4, 2, 64, 0, false},     // one row, GQA
        bwd_case{2, 17, 2, 2, 96, 0, false},    // ragged tile, Phi-3 head size, B=2
        bwd_case{1, 17, 2, 1, 96, 9, true},     // window inside a tile, eager copies
        bwd_case{1, 70, 2, 1, 96, 0, false},    // 2 query x 2 key tiles, GQA
        bwd_case{1, 70, 2, 2, 64, 9, true},     // window across tiles, eager copies
        bwd_case{1, 40, 2, 1, 128, 0, false},   // MQA, HS 128
        bwd_case{1, 150, 1, 1, 64, 20, false},  // window skips whole query and key tiles
        // window 66: key 63 is the last key row 128 (query tile 2) sees, row 128's first key
        bwd_case{1, 129, 1, 1, 64, 66, false},
        // window 79 = the largest row - key distance of an unmasked warp block (dq: rows 64-79
        // x keys 0-63; dk/dv: keys 48-63 x rows 64-127): the "whole block" tests' edge; MQA 3:1
        bwd_case{1, 128, 3, 1, 64, 79, false}),
    [](const auto& info) {
      const bwd_case& c = info.param;
      return "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) + "_NH" + std::to_string(c.NH) +
             "_NKV" + std::to_string(c.NKV) + "_HS" + std::to_string(c.HS) + "_w" +
             std::to_string(c.window) + (c.eager ? "_eager" : "_lazy");
    });

}  // namespace
}  // namespace kaito
