// kernels/linear_cross_entropy.h: the chunked twin against gemm_forward_cpu +
// cross_entropy_forward/backward_cpu + gemm_backward_inp_cpu on the full logits, at chunk sizes
// that divide V, do not divide it, exceed it and are 1; ignore index -100; grad_scale; an fp64
// finite-difference check of dh.
#include "kernels/linear_cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cross_entropy.h"
#include "kernels/gemm.h"
#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

struct problem {
  int64_t N, C, V;
  std::vector<float> h, W;
  std::vector<int32_t> targets;
};

problem make_problem(int64_t N, int64_t C, int64_t V, uint32_t seed) {
  problem p{N,
            C,
            V,
            testing::random_vec(N * C, seed, -1.0f, 1.0f),
            testing::random_vec(V * C, seed + 1, -0.6f, 0.6f),
            {}};
  std::mt19937 rng(seed + 2);
  std::uniform_int_distribution<int32_t> u(0, int32_t(V - 1));
  for (int64_t n = 0; n < N; ++n)
    p.targets.push_back(n % 4 == 1 ? cross_entropy_ignore_index : u(rng));
  p.targets[0] = int32_t(V - 1);  // the last vocabulary row (in the last, possibly short chunk)
  return p;
}

// The unfused path: full (N, V) logits.
void reference(const problem& p, float grad_scale, std::vector<float>& losses,
               std::vector<float>& lse, std::vector<float>& dh) {
  const int64_t N = p.N, C = p.C, V = p.V;
  std::vector<float> logits(size_t(N * V)), dlogits(size_t(N * V));
  losses.assign(size_t(N), 0.0f);
  lse.assign(size_t(N), 0.0f);
  dh.assign(size_t(N * C), 0.0f);
  gemm_forward_cpu(logits.data(), p.h.data(), p.W.data(), nullptr, N, C, V);
  cross_entropy_forward_cpu(losses.data(), lse.data(), logits.data(), p.targets.data(), N, V);
  cross_entropy_backward_cpu(dlogits.data(), logits.data(), lse.data(), p.targets.data(),
                             grad_scale, N, V);
  gemm_backward_inp_cpu(dh.data(), dlogits.data(), p.W.data(), N, C, V);
}

TEST(linear_cross_entropy, matches_full_logits_path_at_every_chunking) {
  const problem p = make_problem(13, 40, 37, 7);
  const int64_t count = cross_entropy_count(p.targets.data(), p.N);
  const float scale = 0.5f / float(count);  // the mean, halved (gradient accumulation of 2)
  std::vector<float> ref_losses, ref_lse, ref_dh;
  reference(p, scale, ref_losses, ref_lse, ref_dh);
  for (int64_t Vc : {int64_t(1), int64_t(5), int64_t(16), int64_t(37), int64_t(64)}) {
    SCOPED_TRACE(Vc);
    std::vector<float> losses(size_t(p.N), -1.0f), lse(size_t(p.N), -1.0f);
    std::vector<float> dh(size_t(p.N * p.C), 99.0f);  // overwritten (=), not accumulated
    linear_cross_entropy_forward_cpu(losses.data(), lse.data(), p.h.data(), p.W.data(),
                                     p.targets.data(), p.N, p.C, p.V, Vc);
    linear_cross_entropy_backward_cpu(dh.data(), p.h.data(), p.W.data(), lse.data(),
                                      p.targets.data(), scale, p.N, p.C, p.V, Vc);
    EXPECT_LT(testing::max_rel_err(lse, ref_lse), 1e-6);
    EXPECT_LT(testing::max_rel_err(losses, ref_losses), 1e-5);
    EXPECT_LT(testing::max_rel_err(dh, ref_dh), 1e-5);
    for (int64_t n = 0; n < p.N; ++n) {
      if (p.targets[size_t(n)] != cross_entropy_ignore_index) continue;
      EXPECT_EQ(losses[size_t(n)], 0.0f) << "ignored row " << n;
      for (int64_t c = 0; c < p.C; ++c) EXPECT_EQ(dh[size_t(n * p.C + c)], 0.0f);
    }
  }
}

TEST(linear_cross_entropy, large_logits_do_not_overflow_the_online_sum) {
  // Later chunks hold much larger logits than the first: the running sum must be rescaled.
  problem p = make_problem(3, 8, 20, 11);
  for (int64_t v = 10; v < 20; ++v)
    for (int64_t c = 0; c < 8; ++c) p.W[size_t(v * 8 + c)] *= 60.0f;
  std::vector<float> ref_losses, ref_lse, ref_dh;
  reference(p, 1.0f, ref_losses, ref_lse, ref_dh);
  std::vector<float> losses(3), lse(3), dh(24);
  linear_cross_entropy_forward_cpu(losses.data(), lse.data(), p.h.data(), p.W.data(),
                                   p.targets.data(), 3, 8, 20, 4);
  linear_cross_entropy_backward_cpu(dh.data(), p.h.data(), p.W.data(), lse.data(), p.targets.data(),
                                    1.0f, 3, 8, 20, 4);
  for (float l : lse) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(testing::max_rel_err(lse, ref_lse), 1e-6);
  EXPECT_LT(testing::max_rel_err(losses, ref_losses), 1e-5);
  EXPECT_LT(testing::max_rel_err(dh, ref_dh), 1e-5);
}

TEST(linear_cross_entropy, dh_matches_finite_differences_of_the_summed_loss) {
  const problem p = make_problem(4, 6, 9, 21);
  const float scale = 0.25f;
  auto loss_fp64 = [&](const std::vector<double>& h) {  // scale * sum of row losses, fp64
    double s = 0.0;
    for (int64_t n = 0; n < p.N; ++n) {
      const int32_t t = p.targets[size_t(n)];
      if (t == cross_entropy_ignore_index) continue;
      std::vector<double> z(size_t(p.V), 0.0);
      double m = -1e300;
      for (int64_t v = 0; v < p.V; ++v) {
        for (int64_t c = 0; c < p.C; ++c)
          z[size_t(v)] += h[size_t(n * p.C + c)] * p.W[size_t(v * p.C + c)];
        m = std::max(m, z[size_t(v)]);
      }
      double e = 0.0;
      for (double zv : z) e += std::exp(zv - m);
      s += m + std::log(e) - z[size_t(t)];
    }
    return scale * s;
  };
  std::vector<float> losses(size_t(p.N)), lse(size_t(p.N)), dh(size_t(p.N * p.C));
  linear_cross_entropy_forward_cpu(losses.data(), lse.data(), p.h.data(), p.W.data(),
                                   p.targets.data(), p.N, p.C, p.V, 4);
  linear_cross_entropy_backward_cpu(dh.data(), p.h.data(), p.W.data(), lse.data(), p.targets.data(),
                                    scale, p.N, p.C, p.V, 4);
  const auto hd = testing::to_double(p.h);
  double loss_sum = 0.0;
  for (float l : losses) loss_sum += l;
  EXPECT_NEAR(scale * loss_sum, loss_fp64(hd), 1e-5);
  for (size_t i = 0; i < hd.size(); ++i) {
    auto a = hd, b = hd;
    a[i] += 1e-6;
    b[i] -= 1e-6;
    EXPECT_NEAR(dh[i], (loss_fp64(a) - loss_fp64(b)) / 2e-6, 2e-5) << "element " << i;
  }
}

TEST(linear_cross_entropy, empty_batch_writes_nothing) {
  float sentinel = 7.0f;
  linear_cross_entropy_forward_cpu(&sentinel, &sentinel, nullptr, nullptr, nullptr, 0, 4, 5, 2);
  linear_cross_entropy_backward_cpu(&sentinel, nullptr, nullptr, nullptr, nullptr, 1.0f, 0, 4, 5,
                                    2);
  EXPECT_EQ(sentinel, 7.0f);
}

}  // namespace
}  // namespace kaito
