// The self-test against hand-made failures: a correct GEMM passes, a GEMM that is wrong in one
// element (or entirely) fails, a corrupted memory word is counted, and bad work-unit flags are
// refused naming the flag.
#include "actors/self_test.h"
#include "actors/work_args.h"

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/gemm.h"

namespace {

using kaito::actors::parse_work_args;
using kaito::actors::run_self_test;
using kaito::actors::self_test_options;

// Correct everywhere except c[0,0] (a sampled element), which is off by 1%.
void off_by_one_percent_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                             float* c, int64_t ldc) {
  kaito::sgemm_cpu(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  c[0] = c[0] * 1.01f + 0.01f;
}

// Forgets to accumulate the last k (a classic tail-loop bug).
void short_k_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = 0;
      for (int64_t k = 0; k + 1 < K; ++k) s += a[i * lda + k] * b[k * ldb + j];
      c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
  (void)ta;
  (void)tb;
}

TEST(self_test, correct_gemm_and_memory_pass) {
  self_test_options o;
  o.m = 96;
  o.n = 80;
  o.k = 300;
  o.memory_mib = 2;
  std::atomic<bool> cancel{false};
  auto r = run_self_test(o, cancel, {});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.iterations, 1u);
  EXPECT_EQ(r.gemm_checked, 16u);
  EXPECT_EQ(r.gemm_errors, 0u);
  EXPECT_LT(r.gemm_max_rel_error, 1e-5f);
  EXPECT_EQ(r.memory_bytes_checked, 2u << 20);
  EXPECT_EQ(r.memory_errors, 0u);
  EXPECT_GT(r.gflops, 0.0f);
  EXPECT_NE(r.message.find("gemm 96x80x300 x 1 iterations"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("memory 2 MiB verified"), std::string::npos) << r.message;
}

TEST(self_test, default_sizes_are_512_cubed_and_64_mib) {
  auto w = parse_work_args({"--task=self-test"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->self_test.m, 512);
  EXPECT_EQ(w->self_test.n, 512);
  EXPECT_EQ(w->self_test.k, 512);
  EXPECT_EQ(w->self_test.memory_mib, 64u);
  EXPECT_EQ(w->self_test.duration_seconds, 0u);
  std::atomic<bool> cancel{false};
  auto r = run_self_test(w->self_test, cancel, {});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_NE(r.message.find("gemm 512^3 x 1 iterations"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("memory 64 MiB verified"), std::string::npos) << r.message;
}

TEST(self_test, a_broken_gemm_fails) {
  self_test_options o;
  o.m = o.n = o.k = 64;
  o.memory_mib = 0;
  std::atomic<bool> cancel{false};
  o.gemm = &off_by_one_percent_gemm;
  auto r = run_self_test(o, cancel, {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.gemm_errors, 1u);
  EXPECT_GT(r.gemm_max_rel_error, 1e-3f);
  EXPECT_NE(r.message.find("1 of 16 checked elements wrong"), std::string::npos) << r.message;
  o.gemm = &short_k_gemm;
  r = run_self_test(o, cancel, {});
  EXPECT_FALSE(r.ok);
  EXPECT_GE(r.gemm_errors, 14u);  // a product with one term missing is off almost everywhere
}

TEST(self_test, memory_pattern_counts_corrupted_words) {
  std::vector<uint64_t> mem(4096);
  kaito::actors::memory_pattern_fill(mem.data(), mem.size(), 42);
  EXPECT_EQ(kaito::actors::memory_pattern_verify(mem.data(), mem.size(), 42), 0u);
  mem[17] ^= 1u << 5;     // one flipped bit
  mem[4095] = mem[4094];  // a stuck address line: two words alias
  EXPECT_EQ(kaito::actors::memory_pattern_verify(mem.data(), mem.size(), 42), 2u);
  EXPECT_EQ(kaito::actors::memory_pattern_verify(mem.data(), mem.size(), 43), mem.size());
}

TEST(self_test, duration_repeats_iterations_and_reports_progress) {
  self_test_options o;
  o.m = o.n = o.k = 32;
  o.memory_mib = 1;
  o.duration_seconds = 1;
  std::atomic<bool> cancel{false};
  std::vector<kaito::actors::self_test_progress> seen;
  auto r = run_self_test(
      o, cancel, [&](const auto& p) { seen.push_back(p); }, 100);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.iterations, 5u);
  ASSERT_GE(seen.size(), 3u);
  ASSERT_LE(seen.size(), 11u);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].permille, seen[i - 1].permille);
    EXPECT_GT(seen[i].iterations, seen[i - 1].iterations);
  }
  EXPECT_LE(seen.back().permille, 1000u);
  EXPECT_NE(seen[0].text.find("gemm 32^3 "), std::string::npos) << seen[0].text;
  EXPECT_NE(seen[0].text.find("/1 s"), std::string::npos) << seen[0].text;
}

TEST(self_test, cancel_stops_a_long_run) {
  self_test_options o;
  o.m = o.n = o.k = 32;
  o.memory_mib = 1;
  o.duration_seconds = 3600;
  std::atomic<bool> cancel{false};
  int calls = 0;
  auto r = run_self_test(
      o, cancel,
      [&](const auto&) {
        if (++calls == 2) cancel = true;
      },
      10);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(calls, 2);
  EXPECT_NE(r.message.find("cancelled"), std::string::npos);
}

TEST(self_test, bad_flags_name_the_flag) {
  struct bad {
    std::vector<std::string> args;
    std::string where;
  };
  std::vector<bad> cases = {
      {{"--task=self-test", "--duration-seconds=abc"}, "--duration-seconds"},
      {{"--task=self-test", "--duration-seconds=-1"}, "--duration-seconds"},
      {{"--task=self-test", "--gemm-size=0"}, "--gemm-size"},
      {{"--task=self-test", "--gemm-size=100000"}, "--gemm-size"},
      {{"--task=self-test", "--memory-mib"}, "--memory-mib"},
      {{"--task=train"}, "--task"},
      {{"--duration-seconds=3"}, "--task"},
      {{"--task=self-test", "--bogus=1"}, "--bogus"},
      {{"--task=self-test", "stray"}, "args[1]"},
      {{"", "--task=self-test"}, "args[0]"},
  };
  for (const auto& c : cases) {
    auto w = parse_work_args(c.args);
    ASSERT_FALSE(w.ok()) << c.where;
    EXPECT_EQ(w.error().where(), c.where) << w.error().to_string();
  }
  auto w = parse_work_args({"--task", "serve-self-test", "--duration-seconds", "5", "--gemm-m=8",
                            "--gemm-n=16", "--gemm-k=24", "--memory-mib=0"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->task, "serve-self-test");
  EXPECT_EQ(w->self_test.duration_seconds, 5u);
  EXPECT_EQ(w->self_test.m, 8);
  EXPECT_EQ(w->self_test.n, 16);
  EXPECT_EQ(w->self_test.k, 24);
  EXPECT_EQ(w->self_test.memory_mib, 0u);
}

}  // namespace
