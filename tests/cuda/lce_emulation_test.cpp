// The reduction kernels of the fused lm_head + cross-entropy (kernels/cuda/linear_cross_entropy.cu)
// run on the CPU (tests/cuda/cuda_emulation.h), chunk by chunk as the launchers drive them, with
// the chunk logits made by sgemm_cpu in place of cuBLASLt: losses and lse against
// linear_cross_entropy_forward_cpu (online merge across chunks, first/last chunk state, target in
// the first, a middle and the short last chunk, ignore index), dlogits against the fp64 formula
// (bf16 rounding), and the GPU-only rule that an out-of-range target gives a zero row. The
// cuBLASLt calls and the launch configuration are checked by parity_test on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/cuda/cuda_emulation.h"
// the kernels under test (their launchers are left out under KAITO_CUDA_EMULATE)
#include "kernels/cuda/linear_cross_entropy.cu"  // NOLINT
#include "kernels/gemm.h"
#include "kernels/linear_cross_entropy.h"

namespace kaito {
namespace {

struct problem {
  int64_t N, C, V, Vc;
  std::vector<float> h, w;
  std::vector<int32_t> t;
};

problem make(std::vector<int32_t> targets, int64_t C, int64_t V, int64_t Vc, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  problem p{int64_t(targets.size()), C, V, Vc, {}, {}, std::move(targets)};
  for (int64_t i = 0; i < p.N * C; ++i) p.h.push_back(u(rng));
  for (int64_t i = 0; i < V * C; ++i) p.w.push_back(0.6f * u(rng));
  return p;
}

std::vector<float> chunk_logits(const problem& p, int64_t v0, int64_t vc) {
  std::vector<float> x(size_t(p.N * vc));
  sgemm_cpu(false, true, p.N, vc, p.C, 1.0f, p.h.data(), p.C, p.w.data() + v0 * p.C, p.C, 0.0f,
            x.data(), vc);
  return x;
}

// The forward launcher's loop, kernels emulated.
void forward(const problem& p, std::vector<float>& losses, std::vector<float>& lse) {
  losses.assign(size_t(p.N), NAN);
  lse.assign(size_t(p.N), NAN);
  std::vector<float> state(size_t(3 * p.N), NAN);
  for (int64_t v0 = 0; v0 < p.V; v0 += p.Vc) {
    const int64_t vc = std::min(p.Vc, p.V - v0);
    const std::vector<float> x = chunk_logits(p, v0, vc);
    emu::run(dim3(unsigned(p.N)), kThreads, [&] {
      lce_forward_chunk_kernel(losses.data(), lse.data(), state.data(), state.data() + p.N,
                               state.data() + 2 * p.N, x.data(), p.t.data(), v0, int(vc), p.V,
                               v0 == 0, v0 + vc >= p.V);
    });
  }
}

TEST(lce_emulation, forward_and_backward_chunks_match_the_cpu_twin) {
  // targets: the short last chunk's last row, ignored, first chunk, chunk boundaries, middle
  const problem p = make({699, -100, 0, 255, 256, 511, 512, 400}, 24, 700, 256, 1);
  std::vector<float> losses, lse, ref_losses(size_t(p.N)), ref_lse(size_t(p.N));
  forward(p, losses, lse);
  linear_cross_entropy_forward_cpu(ref_losses.data(), ref_lse.data(), p.h.data(), p.w.data(),
                                   p.t.data(), p.N, p.C, p.V, p.Vc);
  for (int64_t n = 0; n < p.N; ++n) {
    EXPECT_NEAR(lse[size_t(n)], ref_lse[size_t(n)], 1e-5 * std::fabs(ref_lse[size_t(n)])) << n;
    EXPECT_NEAR(losses[size_t(n)], ref_losses[size_t(n)], 1e-5 * std::fabs(ref_lse[size_t(n)]))
        << n;
  }
  EXPECT_EQ(losses[1], 0.0f);  // ignored row

  const float scale = 0.125f;
  for (int64_t v0 = 0; v0 < p.V; v0 += p.Vc) {
    const int64_t vc = std::min(p.Vc, p.V - v0);
    const std::vector<float> x = chunk_logits(p, v0, vc);
    std::vector<__nv_bfloat16> d(size_t(p.N * vc), __float2bfloat16_rn(NAN));
    emu::run(dim3(unsigned(p.N)), kThreads, [&] {
      lce_backward_chunk_kernel(d.data(), x.data(), ref_lse.data(), p.t.data(), scale, v0, int(vc),
                                p.V);
    });
    for (int64_t n = 0; n < p.N; ++n) {
      for (int64_t v = 0; v < vc; ++v) {
        const double xv = x[size_t(n * vc + v)];
        const double ref =
            p.t[size_t(n)] == cross_entropy_ignore_index
                ? 0.0
                : scale * (std::exp(xv - ref_lse[size_t(n)]) - (v0 + v == p.t[size_t(n)]));
        const double got = __bfloat162float(d[size_t(n * vc + v)]);
        ASSERT_NEAR(got, ref, 1e-6 + std::fabs(ref) * 1.0 / 256) << "row " << n << " v " << v0 + v;
      }
    }
  }
}

TEST(lce_emulation, one_chunk_and_out_of_range_targets) {
  // Vc >= V: one chunk that is first and last; target 5000 is out of range: a zero loss row and a
  // zero dlogits row on the GPU (the CPU twin rejects such targets).
  problem p = make({3, 5000, 99}, 16, 100, 100, 2);
  std::vector<float> losses, lse;
  forward(p, losses, lse);
  EXPECT_EQ(losses[1], 0.0f);
  EXPECT_TRUE(std::isfinite(lse[1]));
  problem valid = p;
  valid.t[1] = cross_entropy_ignore_index;
  std::vector<float> ref_losses(3), ref_lse(3);
  linear_cross_entropy_forward_cpu(ref_losses.data(), ref_lse.data(), valid.h.data(),
                                   valid.w.data(), valid.t.data(), 3, 16, 100, 100);
  for (int n = 0; n < 3; ++n) EXPECT_NEAR(lse[size_t(n)], ref_lse[size_t(n)], 1e-5) << n;
  EXPECT_NEAR(losses[0], ref_losses[0], 1e-5);
  EXPECT_NEAR(losses[2], ref_losses[2], 1e-5);
  const std::vector<float> x = chunk_logits(p, 0, 100);
  std::vector<__nv_bfloat16> d(300, __float2bfloat16_rn(NAN));
  emu::run(dim3(3), kThreads, [&] {
    lce_backward_chunk_kernel(d.data(), x.data(), lse.data(), p.t.data(), 1.0f, 0, 100, 100);
  });
  for (int v = 0; v < 100; ++v) EXPECT_EQ(__bfloat162float(d[size_t(100 + v)]), 0.0f) << v;
}

}  // namespace
}  // namespace kaito
