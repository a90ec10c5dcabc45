// parallel_for (kernels/parallel_for.h): every index visited once, and the row-parallel CPU twins
// give bit-identical results on 1, 2 and 5 threads (training resume and the fixture tests rely on
// results that do not depend on the thread count).
#include "kernels/parallel_for.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace kaito {
namespace {

using kaito::testing::random_vec;

struct thread_count_guard {
  explicit thread_count_guard(int n) { sgemm_set_threads(n); }
  ~thread_count_guard() { sgemm_set_threads(0); }
};

TEST(ParallelFor, VisitsEveryIndexOnce) {
  for (int threads : {1, 2, 7}) {
    thread_count_guard g(threads);
    for (int64_t n : {0, 1, 5, 64, 1000, 4097}) {
      for (int64_t grain : {1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(n, grain, [&](int64_t b, int64_t e) {
          if (threads > 1 && n > grain) EXPECT_LE(e - b, grain);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " grain=" << grain;
      }
    }
  }
}

TEST(ParallelFor, NestedCallRunsInline) {
  thread_count_guard g(2);
  std::atomic<int64_t> sum{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(100, 7, [&](int64_t b2, int64_t e2) { sum += (e2 - b2) * (i + 1); });
  });
  EXPECT_EQ(sum.load(), 100 * (8 * 9 / 2));
}

// Runs f(outputs) on `threads` threads and returns the outputs' bytes.
template <class F>
std::vector<float> run_with(int threads, size_t n, F&& f) {
  thread_count_guard g(threads);
  std::vector<float> out(n, -7.0f);
  f(out.data());
  return out;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what;
}

TEST(ParallelFor, RowOpsDoNotDependOnThreadCount) {
  const int64_t B = 2, T = 150, NH = 4, NKV = 2, HS = 16, N = B * T, C = 96, I = 160, V = 301;
  auto x = random_vec(N * C, 1), w = random_vec(C, 2), dy = random_vec(N * C, 3);
  auto gu = random_vec(N * 2 * I, 4), dact = random_vec(N * I, 5);
  auto logits = random_vec(N * V, 6, -4.0f, 4.0f);
  std::vector<int32_t> targets(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) targets[i] = i % 5 == 0 ? -100 : int32_t((i * 37) % V);
  auto q = random_vec(N * NH * HS, 7), k = random_vec(N * NKV * HS, 8),
       v = random_vec(N * NKV * HS, 9);
  auto cs = random_vec(N * HS, 10), sn = random_vec(N * HS, 11);
  const float scale = 0.25f;

  for (int threads : {2, 5}) {
    auto norm = [&](float* o) {
      std::vector<float> rstd(static_cast<size_t>(N)), dw(static_cast<size_t>(C), 0.5f);
      rmsnorm_forward_cpu(o, rstd.data(), x.data(), w.data(), N, C, 1e-5f);
      rmsnorm_backward_cpu(o + N * C, dw.data(), dy.data(), x.data(), w.data(), rstd.data(), N, C);
      std::memcpy(o + 2 * N * C, dw.data(), sizeof(float) * size_t(C));
    };
    expect_same_bits(run_with(1, size_t(2 * N * C + C), norm),
                     run_with(threads, size_t(2 * N * C + C), norm), "rmsnorm");
    auto swiglu = [&](float* o) {
      swiglu_forward_cpu(o, gu.data(), gu.data() + I, N, I, 2 * I);
      swiglu_backward_cpu(o + N * I, o + N * I + I, dact.data(), gu.data(), gu.data() + I, N, I,
                          2 * I);
    };
    expect_same_bits(run_with(1, size_t(N * I + N * 2 * I), swiglu),
                     run_with(threads, size_t(N * I + N * 2 * I), swiglu), "swiglu");
    auto ce = [&](float* o) {
      cross_entropy_forward_cpu(o, o + N, logits.data(), targets.data(), N, V);
      cross_entropy_backward_cpu(o + 2 * N, logits.data(), o + N, targets.data(), 0.1f, N, V);
    };
    expect_same_bits(run_with(1, size_t(2 * N + N * V), ce),
                     run_with(threads, size_t(2 * N + N * V), ce), "cross_entropy");
    auto rope = [&](float* o) {
      rope_forward_cpu(o, q.data(), cs.data(), sn.data(), N, NH, HS, HS);
      rope_backward_cpu(o + N * NH * HS, q.data(), cs.data(), sn.data(), N, NH, HS, HS);
    };
    expect_same_bits(run_with(1, size_t(2 * N * NH * HS), rope),
                     run_with(threads, size_t(2 * N * NH * HS), rope), "rope");
    const size_t qn = size_t(N * NH * HS), kn = size_t(N * NKV * HS), ln = size_t(B * NH * T);
    for (int64_t window : {0, 9}) {
      auto att = [&](float* o) {
        float* out = o;
        float* lse = o + qn;
        float* dq = lse + ln;
        float* dk = dq + qn;
        float* dv = dk + kn;
        attention_forward_cpu(out, lse, q.data(), k.data(), v.data(), B, T, NH, NKV, HS, scale,
                              window);
        attention_backward_cpu(dq, dk, dv, dy.data(), out, lse, q.data(), k.data(), v.data(), B, T,
                               NH, NKV, HS, scale, window);
      };
      const size_t total = qn + ln + qn + 2 * kn;
      expect_same_bits(run_with(1, total, att), run_with(threads, total, att), "attention");
    }
  }
}

}  // namespace
}  // namespace kaito
