// kernels/attention.h: hand-computed softmax, fp64 reference with GQA and sliding window,
// finite-difference gradients of q, k, v.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

struct dims {
  int64_t B, T, NH, NKV, HS, window;
};

// fp64 eager reference: HF repeat_kv + masked softmax.
std::vector<double> ref_forward(const dims& d, const std::vector<double>& q,
                                const std::vector<double>& k, const std::vector<double>& v,
                                double scale) {
  std::vector<double> out(static_cast<size_t>(d.B * d.T * d.NH * d.HS), 0.0);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.NH; ++h) {
      int64_t g = h / (d.NH / d.NKV);
      for (int64_t i = 0; i < d.T; ++i) {
        std::vector<double> s(static_cast<size_t>(d.T), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < d.T; ++j) {
          bool allowed = j <= i && (d.window == 0 || i - j < d.window);
          if (!allowed) continue;
          double acc = 0;
          for (int64_t c = 0; c < d.HS; ++c)
            acc += q[((b * d.T + i) * d.NH + h) * d.HS + c] *
                   k[((b * d.T + j) * d.NKV + g) * d.HS + c];
          s[j] = acc * scale;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < d.T; ++j) z += std::exp(s[j] - mx);
        for (int64_t j = 0; j < d.T; ++j) {
          double p = std::exp(s[j] - mx) / z;
          for (int64_t c = 0; c < d.HS; ++c)
            out[((b * d.T + i) * d.NH + h) * d.HS + c] +=
                p * v[((b * d.T + j) * d.NKV + g) * d.HS + c];
        }
      }
    }
  return out;
}

TEST(attention, hand_computed_two_tokens) {
  float q[2] = {1, 1}, k[2] = {0, std::log(3.0f)}, v[2] = {2, 6}, out[2], lse[2];
  attention_forward_cpu(out, lse, q, k, v, 1, 2, 1, 1, 1, 1.0f, 0);
  EXPECT_EQ(out[0], 2.0f);  // token 0 sees only itself
  EXPECT_NEAR(lse[0], 0.0, 1e-7);
  EXPECT_NEAR(out[1], 2 * 0.25 + 6 * 0.75, 1e-6);  // p = [1/4, 3/4]
  EXPECT_NEAR(lse[1], std::log(4.0), 1e-6);
}

TEST(attention, window_one_sees_only_itself) {
  dims d{1, 4, 2, 1, 3, 1};
  auto q = testing::random_vec(d.T * d.NH * d.HS, 1), k = testing::random_vec(d.T * d.HS, 2),
       v = testing::random_vec(d.T * d.HS, 3);
  std::vector<float> out(q.size()), lse(d.NH * d.T);
  attention_forward_cpu(out.data(), lse.data(), q.data(), k.data(), v.data(), d.B, d.T, d.NH, d.NKV,
                        d.HS, 0.5f, d.window);
  for (int64_t i = 0; i < d.T; ++i)
    for (int64_t h = 0; h < d.NH; ++h)
      for (int64_t c = 0; c < d.HS; ++c) EXPECT_EQ(out[(i * d.NH + h) * d.HS + c], v[i * d.HS + c]);
}

TEST(attention, forward_and_gradients_match_fp64_gqa_and_window) {
  for (dims d : {dims{2, 5, 4, 2, 3, 0}, dims{1, 6, 3, 3, 4, 3}, dims{1, 1, 2, 1, 2, 0},
                 dims{2, 4, 4, 1, 5, 2}}) {
    const float scale = 1.0f / std::sqrt(float(d.HS));
    auto q = testing::random_vec(d.B * d.T * d.NH * d.HS, 11, -2, 2);
    auto k = testing::random_vec(d.B * d.T * d.NKV * d.HS, 12, -2, 2);
    auto v = testing::random_vec(d.B * d.T * d.NKV * d.HS, 13);
    auto R = testing::random_vec(int64_t(q.size()), 14);  // L = sum(out * R)
    std::vector<float> out(q.size(), NAN), lse(d.B * d.NH * d.T, NAN);
    attention_forward_cpu(out.data(), lse.data(), q.data(), k.data(), v.data(), d.B, d.T, d.NH,
                          d.NKV, d.HS, scale, d.window);
    auto qd = testing::to_double(q), kd = testing::to_double(k), vd = testing::to_double(v);
    EXPECT_LT(testing::max_rel_err(out, ref_forward(d, qd, kd, vd, scale)), 1e-6);

    std::vector<float> dq(q.size(), NAN), dk(k.size(), NAN), dv(v.size(), NAN);
    attention_backward_cpu(dq.data(), dk.data(), dv.data(), R.data(), out.data(), lse.data(),
                           q.data(), k.data(), v.data(), d.B, d.T, d.NH, d.NKV, d.HS, scale,
                           d.window);
    auto loss = [&](const std::vector<double>& a, const std::vector<double>& b,
                    const std::vector<double>& c) {
      auto o = ref_forward(d, a, b, c, scale);
      double L = 0;
      for (size_t i = 0; i < o.size(); ++i) L += o[i] * R[i];
      return L;
    };
    auto fd = [&](std::vector<double>& x, size_t i) {
      double keep = x[i], h = 1e-6;
      x[i] = keep + h;
      double lp = loss(qd, kd, vd);
      x[i] = keep - h;
      double lm = loss(qd, kd, vd);
      x[i] = keep;
      return (lp - lm) / (2 * h);
    };
    std::vector<double> gq(q.size()), gk(k.size()), gv(v.size());
    for (size_t i = 0; i < q.size(); ++i) gq[i] = fd(qd, i);
    for (size_t i = 0; i < k.size(); ++i) gk[i] = fd(kd, i);
    for (size_t i = 0; i < v.size(); ++i) gv[i] = fd(vd, i);
    // analytic gradient with fp32 inputs/lse vs fp64 central differences (error ~1e-10)
    EXPECT_LT(testing::max_rel_err(dq, gq), 2e-5) << d.T << " " << d.NH << "/" << d.NKV;
    EXPECT_LT(testing::max_rel_err(dk, gk), 2e-5);
    EXPECT_LT(testing::max_rel_err(dv, gv), 2e-5);
  }
}

TEST(attention, cached_queries_equal_the_last_rows_of_the_full_forward) {
  for (int64_t window : {int64_t(0), int64_t(3)})
    for (int64_t Tq : {int64_t(1), int64_t(2)}) {  // decode and a 2-token continuation
      const int64_t B = 2, T = 7, NH = 4, NKV = 2, HS = 3, Tcap = 10;
      auto q = testing::random_vec(B * T * NH * HS, 21),
           k = testing::random_vec(B * T * NKV * HS, 22),
           v = testing::random_vec(B * T * NKV * HS, 23);
      std::vector<float> out(q.size()), lse(B * NH * T);
      attention_forward_cpu(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T, NH, NKV, HS,
                            0.5f, window);
      // cache with capacity 10, rows 7..9 poisoned (never read); the last Tq queries only
      std::vector<float> kc(B * Tcap * NKV * HS, NAN), vc(kc.size(), NAN), qq(B * Tq * NH * HS);
      for (int64_t b = 0; b < B; ++b) {
        std::copy(k.begin() + b * T * NKV * HS, k.begin() + (b + 1) * T * NKV * HS,
                  kc.begin() + b * Tcap * NKV * HS);
        std::copy(v.begin() + b * T * NKV * HS, v.begin() + (b + 1) * T * NKV * HS,
                  vc.begin() + b * Tcap * NKV * HS);
        std::copy(q.begin() + (b * T + T - Tq) * NH * HS, q.begin() + (b + 1) * T * NH * HS,
                  qq.begin() + b * Tq * NH * HS);
      }
      std::vector<float> oc(qq.size(), NAN), lc(B * NH * Tq, NAN);
      attention_forward_cached_cpu(oc.data(), lc.data(), qq.data(), kc.data(), vc.data(), B, Tq, T,
                                   Tcap, NH, NKV, HS, 0.5f, window);
      // the same math; BLAS may block a 2-row product differently from a 7-row one: a few ulps
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t e = 0; e < Tq * NH * HS; ++e)
          EXPECT_NEAR(oc[b * Tq * NH * HS + e], out[(b * T + T - Tq) * NH * HS + e], 1e-6);
        for (int64_t h = 0; h < NH; ++h)
          for (int64_t i = 0; i < Tq; ++i)
            EXPECT_NEAR(lc[(b * NH + h) * Tq + i], lse[(b * NH + h) * T + T - Tq + i], 1e-6);
      }
    }
}

}  // namespace
}  // namespace kaito
