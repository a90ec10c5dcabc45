// kernels/gemm.h: forward / dinp / dweight vs fp64 loops, bias, accumulation, bf16 weights,
// NaN-safe overwrite.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

using testing::max_rel_err;
using testing::random_vec;

struct shape {
  int64_t N, C, OC;
};
const shape kShapes[] = {{1, 1, 1},   {1, 7, 3},     {3, 5, 7},
                         {17, 33, 9}, {64, 96, 130}, {5, 4096, 130}};

// fp32 sgemm with K-term sums: relative error bound ~ K * 2^-24 in the worst case; random signs
// make it ~sqrt(K) * 2^-24. 1e-5 covers K <= 4096 with margin.
constexpr double kTol = 1e-5;

TEST(gemm, forward_with_and_without_bias) {
  for (auto s : kShapes) {
    auto inp = random_vec(s.N * s.C, 1), w = random_vec(s.OC * s.C, 2), b = random_vec(s.OC, 3);
    for (bool with_bias : {false, true}) {
      std::vector<float> out(static_cast<size_t>(s.N * s.OC),
                             NAN);  // poison: overwrite must not read it
      gemm_forward_cpu(out.data(), inp.data(), w.data(), with_bias ? b.data() : nullptr, s.N, s.C,
                       s.OC);
      std::vector<double> ref(out.size());
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t o = 0; o < s.OC; ++o) {
          double acc = with_bias ? b[o] : 0.0;
          for (int64_t c = 0; c < s.C; ++c) acc += double(inp[n * s.C + c]) * w[o * s.C + c];
          ref[n * s.OC + o] = acc;
        }
      EXPECT_LT(max_rel_err(out, ref), kTol) << s.N << "x" << s.C << "x" << s.OC;
    }
  }
}

TEST(gemm, backward_inp_overwrites_and_weight_accumulates) {
  for (auto s : kShapes) {
    auto inp = random_vec(s.N * s.C, 4), w = random_vec(s.OC * s.C, 5),
         dout = random_vec(s.N * s.OC, 6);
    std::vector<float> dinp(static_cast<size_t>(s.N * s.C), NAN);
    gemm_backward_inp_cpu(dinp.data(), dout.data(), w.data(), s.N, s.C, s.OC);
    std::vector<double> ref(dinp.size());
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t c = 0; c < s.C; ++c) {
        double acc = 0;
        for (int64_t o = 0; o < s.OC; ++o) acc += double(dout[n * s.OC + o]) * w[o * s.C + c];
        ref[n * s.C + c] = acc;
      }
    EXPECT_LT(max_rel_err(dinp, ref), kTol);

    std::vector<float> dw(static_cast<size_t>(s.OC * s.C), 0.5f),
        db(static_cast<size_t>(s.OC), -1.0f);
    gemm_backward_weight_cpu(dw.data(), db.data(), dout.data(), inp.data(), s.N, s.C, s.OC);
    std::vector<double> rdw(dw.size()), rdb(db.size());
    for (int64_t o = 0; o < s.OC; ++o) {
      double sb = -1.0;
      for (int64_t n = 0; n < s.N; ++n) sb += dout[n * s.OC + o];
      rdb[o] = sb;
      for (int64_t c = 0; c < s.C; ++c) {
        double acc = 0.5;
        for (int64_t n = 0; n < s.N; ++n) acc += double(dout[n * s.OC + o]) * inp[n * s.C + c];
        rdw[o * s.C + c] = acc;
      }
    }
    EXPECT_LT(max_rel_err(dw, rdw), kTol);
    EXPECT_LT(max_rel_err(db, rdb), kTol);
  }
}

TEST(gemm, finite_difference_of_a_linear_loss) {
  // L = sum(out * R): dL/dinp = R·W, dL/dW = Rᵀ·inp exactly (linear), checked by central
  // differences.
  int64_t N = 2, C = 3, OC = 2;
  auto inp = random_vec(N * C, 7), w = random_vec(OC * C, 8), R = random_vec(N * OC, 9);
  auto loss = [&](const std::vector<float>& x, const std::vector<float>& ww) {
    double L = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OC; ++o) {
        double acc = 0;
        for (int64_t c = 0; c < C; ++c) acc += double(x[n * C + c]) * ww[o * C + c];
        L += acc * R[n * OC + o];
      }
    return L;
  };
  std::vector<float> dinp(static_cast<size_t>(N * C)), dw(static_cast<size_t>(OC * C), 0.0f);
  gemm_backward_inp_cpu(dinp.data(), R.data(), w.data(), N, C, OC);
  gemm_backward_weight_cpu(dw.data(), nullptr, R.data(), inp.data(), N, C, OC);
  const float h = 1.0f / 64;  // exact in fp32; the loss is linear, so FD is exact up to rounding
  for (size_t i = 0; i < inp.size(); ++i) {
    auto p = inp, m = inp;
    p[i] += h;
    m[i] -= h;
    EXPECT_NEAR(dinp[i], (loss(p, w) - loss(m, w)) / (2 * h), 1e-5);
  }
  for (size_t i = 0; i < w.size(); ++i) {
    auto p = w, m = w;
    p[i] += h;
    m[i] -= h;
    EXPECT_NEAR(dw[i], (loss(inp, p) - loss(inp, m)) / (2 * h), 1e-5);
  }
}

TEST(gemm, bf16_weights_equal_the_upcast_fp32_path) {
  for (auto s : kShapes) {
    auto inp = random_vec(s.N * s.C, 10), wf = random_vec(s.OC * s.C, 11), b = random_vec(s.OC, 12),
         dout = random_vec(s.N * s.OC, 13);
    std::vector<bf16> wb(wf.size());
    f32_to_bf16_cpu(wb.data(), wf.data(), int64_t(wf.size()));
    std::vector<float> wu(wf.size());
    bf16_to_f32_cpu(wu.data(), wb.data(), int64_t(wb.size()));
    std::vector<float> o1(static_cast<size_t>(s.N * s.OC), NAN), o2(o1.size(), NAN);
    gemm_forward_bf16w_cpu(o1.data(), inp.data(), wb.data(), b.data(), s.N, s.C, s.OC);
    gemm_forward_cpu(o2.data(), inp.data(), wu.data(), b.data(), s.N, s.C, s.OC);
    // panels change the blocking of the BLAS call only along OC: each output is the same K-sum,
    // but BLAS kernels may order it differently per panel width, hence a tolerance and not ==.
    EXPECT_LT(max_rel_err(o1, o2), kTol);
    std::vector<float> d1(static_cast<size_t>(s.N * s.C), NAN), d2(d1.size(), NAN);
    gemm_backward_inp_bf16w_cpu(d1.data(), dout.data(), wb.data(), s.N, s.C, s.OC);
    gemm_backward_inp_cpu(d2.data(), dout.data(), wu.data(), s.N, s.C, s.OC);
    EXPECT_LT(max_rel_err(d1, d2), kTol);
  }
}

TEST(gemm, sgemm_transposes_and_beta) {
  // a (2x3), b (3x2) given transposed; c = 2 * aᵀᵀ·bᵀ + 1 * c, hand-computed.
  float aT[6] = {1, 4, 2, 5, 3, 6};  // aᵀ (3x2) of a = [[1,2,3],[4,5,6]]
  float bT[6] = {1, 3, 5, 2, 4, 6};  // bᵀ (2x3) of b = [[1,2],[3,4],[5,6]]
  float c[4] = {1, 1, 1, 1};
  sgemm_cpu(true, true, 2, 2, 3, 2.0f, aT, 2, bT, 3, 1.0f, c, 2);
  // a·b = [[22,28],[49,64]]
  EXPECT_EQ(c[0], 45.0f);
  EXPECT_EQ(c[1], 57.0f);
  EXPECT_EQ(c[2], 99.0f);
  EXPECT_EQ(c[3], 129.0f);
}

TEST(gemm, single_row_every_transpose_and_nan_safe_beta_zero) {
  // M == 1 (decode) takes a different BLAS route (sgemv); it must keep sgemm's contract for every
  // transpose combination, with beta == 0 ignoring a NaN-poisoned c and beta == 1 accumulating.
  const int64_t K = 5, N = 3;
  float a[K], b[K * N], bT[N * K];
  for (int64_t k = 0; k < K; ++k) a[k] = 0.5f * float(k) - 1.0f;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) b[k * N + n] = bT[n * K + k] = float(k * N + n) * 0.25f - 1.5f;
  float want[N];
  for (int64_t n = 0; n < N; ++n) {
    double acc = 0;
    for (int64_t k = 0; k < K; ++k) acc += double(a[k]) * b[k * N + n];
    want[n] = float(2.0 * acc);
  }
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) {
      float c[N] = {NAN, NAN, NAN};
      // op(a) is (1,K): stored as a row (lda = K) or as a column aᵀ (K,1) with lda = 1.
      sgemm_cpu(trans_a, trans_b, 1, N, K, 2.0f, a, trans_a ? 1 : K, trans_b ? bT : b,
                trans_b ? K : N, 0.0f, c, N);
      for (int64_t n = 0; n < N; ++n)
        EXPECT_NEAR(c[n], want[n], 1e-5) << trans_a << trans_b << " n=" << n;
      sgemm_cpu(trans_a, trans_b, 1, N, K, 2.0f, a, trans_a ? 1 : K, trans_b ? bT : b,
                trans_b ? K : N, 1.0f, c, N);
      for (int64_t n = 0; n < N; ++n)
        EXPECT_NEAR(c[n], 2 * want[n], 2e-5) << trans_a << trans_b << " n=" << n;
    }
}

}  // namespace
}  // namespace kaito
