// kernels/sgemm_avx512.h (through sgemm_cpu and directly): every transpose combination, odd edges
// around the 14x32 microkernel and the KC/MC/NC blocks, padded strides, alpha/beta (= and +=),
// NaN-safe overwrite, 1 and 2 threads, against a double-accumulation reference.
#include "kernels/sgemm_avx512.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/sgemm_threads.h"
#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

using testing::random_vec;

struct dims {
  int64_t M, N, K;
};
// Edges of MR = 14 / NR = 32 / 16-wide transposes, K across KC = 256, M across MC = 504,
// N across NC = 512, M == 1 (gemv), problems above the 4M multiply-add threading cut (N split,
// M split, gemv split), and two whose packed A exceeds the 8 MiB "pack all of K" limit (two MC
// blocks split by M; N split with A repacked per K block).
const dims kDims[] = {{1, 1, 1},       {1, 3, 17},       {3, 17, 1},     {17, 63, 65},
                      {63, 65, 255},   {65, 255, 63},    {255, 17, 3},   {14, 32, 16},
                      {15, 33, 17},    {1, 255, 300},    {1, 130, 513},  {520, 40, 20},
                      {20, 600, 300},  {128, 160, 260},  {600, 40, 200}, {1, 4100, 1100},
                      {510, 40, 4000}, {100, 130, 20000}};

// Stores the logical (rows x cols) matrix m row-major with row stride ld, or transposed (then
// the stored matrix is cols x rows). Padding is filled with NaN: it must never be read.
std::vector<float> store(const std::vector<float>& m, int64_t rows, int64_t cols, bool trans,
                         int64_t ld) {
  const int64_t srows = trans ? cols : rows;
  std::vector<float> s(size_t(srows * ld), NAN);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      (trans ? s[size_t(j * ld + i)] : s[size_t(i * ld + j)]) = m[size_t(i * cols + j)];
  return s;
}

void check_all(bool direct) {
  for (const dims& d : kDims) {
    const auto A = random_vec(d.M * d.K, 11), B = random_vec(d.K * d.N, 12);
    const auto C0 = random_vec(d.M * d.N, 13);
    // ref[i,j] = sum_k A[i,k] B[k,j] and mag[i,j] = sum_k |A[i,k] B[k,j]| in double
    std::vector<double> ref(size_t(d.M * d.N)), mag(ref.size());
    for (int64_t i = 0; i < d.M; ++i)
      for (int64_t k = 0; k < d.K; ++k) {
        const double a = A[size_t(i * d.K + k)];
        for (int64_t j = 0; j < d.N; ++j) {
          const double t = a * B[size_t(k * d.N + j)];
          ref[size_t(i * d.N + j)] += t;
          mag[size_t(i * d.N + j)] += std::fabs(t);
        }
      }
    for (int threads : {1, 2}) {
      sgemm_set_threads(threads);
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (float beta : {0.0f, 1.0f, -0.5f}) {
            const float alpha = beta == 0.0f ? 1.0f : 0.75f;
            const int64_t lda = (ta ? d.M : d.K) + 3, ldb = (tb ? d.K : d.N) + 5, ldc = d.N + 2;
            const auto a = store(A, d.M, d.K, ta, lda), b = store(B, d.K, d.N, tb, ldb);
            auto c = store(C0, d.M, d.N, false, ldc);
            if (beta == 0.0f)  // overwrite: c's old contents must not leak in (NaN poison)
              for (int64_t i = 0; i < d.M; ++i)
                for (int64_t j = 0; j < d.N; ++j) c[size_t(i * ldc + j)] = NAN;
            if (direct)
              sgemm_avx512(ta, tb, d.M, d.N, d.K, alpha, a.data(), lda, b.data(), ldb, beta,
                           c.data(), ldc);
            else
              sgemm_cpu(ta, tb, d.M, d.N, d.K, alpha, a.data(), lda, b.data(), ldb, beta, c.data(),
                        ldc);
            // fp32 accumulation of K products, then the alpha/beta update: each of the K + 2
            // roundings adds at most 2^-24 relative to a partial sum bounded by
            // |alpha| * sum_k |a b| + |beta c0| (Higham's gamma_n bound), so the error is at most
            // (K + 2) * 2^-24 * that magnitude; x2 margin for the fma/non-fma split. A missing,
            // doubled or misplaced term is O(|a b|) ~ 0.3 and fails it by far.
            int bad = 0;
            for (int64_t i = 0; i < d.M && bad < 5; ++i)
              for (int64_t j = 0; j < d.N && bad < 5; ++j) {
                const size_t e = size_t(i * d.N + j);
                const double c0 = beta == 0.0f ? 0.0 : double(beta) * C0[e];
                const double want = double(alpha) * ref[e] + c0;
                const double bound = 2.0 * double(d.K + 2) * std::ldexp(1.0, -24) *
                                         (std::fabs(alpha) * mag[e] + std::fabs(c0)) +
                                     1e-30;
                const double got = c[size_t(i * ldc + j)];
                if (!(std::fabs(got - want) <= bound)) {
                  ADD_FAILURE() << "M,N,K=" << d.M << "," << d.N << "," << d.K << " ta=" << ta
                                << " tb=" << tb << " beta=" << beta << " threads=" << threads
                                << " c[" << i << "," << j << "]=" << got << " want " << want;
                  ++bad;
                }
              }
            // columns past N in each row (the ldc padding) are untouched
            for (int64_t i = 0; i < d.M; ++i)
              for (int64_t j = d.N; j < ldc; ++j) ASSERT_TRUE(std::isnan(c[size_t(i * ldc + j)]));
          }
    }
    sgemm_set_threads(0);
  }
}

TEST(sgemm, avx512_matches_double_reference) {
  if (!sgemm_avx512_available()) GTEST_SKIP() << "CPU without AVX-512 (or KAITO_SGEMM=blas)";
  check_all(true);
}

TEST(sgemm, sgemm_cpu_matches_double_reference) {
  check_all(false);
}

TEST(sgemm, zero_k_scales_c) {
  std::vector<float> c = {1.0f, 2.0f, NAN, 4.0f};
  sgemm_cpu(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
  for (float v : c) EXPECT_EQ(v, 0.0f);
  std::vector<float> d = {1.0f, 2.0f, 3.0f, 4.0f};
  sgemm_cpu(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 2.0f, d.data(), 2);
  EXPECT_EQ(d, (std::vector<float>{2.0f, 4.0f, 6.0f, 8.0f}));
}

// Every piece a dynamic task hands out is done exactly once, also when a region is requested
// from inside a running one (that one runs serially on the caller).
struct counting_task {
  std::atomic<int> next{0};
  std::vector<std::atomic<int>> done = std::vector<std::atomic<int>>(1000);
  bool nest = false;
  static void run(void* ctx, int) {
    auto& c = *static_cast<counting_task*>(ctx);
    for (int i = c.next.fetch_add(1); i < 1000; i = c.next.fetch_add(1)) {
      if (c.nest && i % 100 == 0) {
        counting_task inner;
        sgemm_parallel(2, counting_task::run, &inner);
        if (inner.next.load() < 1000) c.done[size_t(i)].fetch_add(100);  // poison: inner lost work
      }
      c.done[size_t(i)].fetch_add(1);
    }
  }
};

TEST(sgemm, parallel_regions_do_every_piece_once) {
  for (bool nest : {false, true})
    for (int rep = 0; rep < 50; ++rep) {
      counting_task t;
      t.nest = nest;
      sgemm_parallel(2, counting_task::run, &t);
      for (auto& d : t.done) ASSERT_EQ(d.load(), 1);
    }
}

TEST(sgemm, thread_count_override) {
  const int configured = sgemm_threads();
  EXPECT_GE(configured, 1);
  sgemm_set_threads(3);
  EXPECT_EQ(sgemm_threads(), 3);
  sgemm_set_threads(0);
  EXPECT_EQ(sgemm_threads(), configured);
}

}  // namespace
}  // namespace kaito
