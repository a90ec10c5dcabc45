// choose_nf4_gemm (engine/cuda/gemm_choice.h) on a device (real, or the emulated runtime in CI):
// which linears each direction's fused kernel takes, the two paths' agreement, the process-wide
// memory of a measurement, and what is not measured. Timings are the device's; only their
// presence is checked here (bench/cuda/model_bench reports them at the Phi-3 shape).
#include <gtest/gtest.h>

#include <string>

#include "engine/cuda/gemm_choice.h"
#include "engine/cuda/gpu_model.h"
#include "tests/cuda/gtest_device.h"

namespace kaito::gpu {
namespace {

using gemm_choice_device = kaito::testing::cuda_fixture;

void expect_measured(const nf4_gemm_direction& d, int linears, const char* what) {
  EXPECT_TRUE(d.measured) << what;
  EXPECT_EQ(d.linears, linears) << what;
  EXPECT_GT(d.us[0], 0.0) << what;
  EXPECT_GT(d.us[1], 0.0) << what;
  // The same bf16 weights and fp32 accumulation: only the summation order differs (emulated,
  // not even that: both sum in k order, so the difference is 0 there).
  EXPECT_LE(d.max_rel_diff, 4e-3) << what;
  EXPECT_EQ(d.fused, d.us[1] < d.us[0]) << what << ": " << d.note;
}

TEST_F(gemm_choice_device, EveryTinyLinearIsMeasuredBothWays) {
  auto m = gpu_model_random(*cx_, gpu_model_shape::tiny(), 64, 7);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto c = choose_nf4_gemm(*cx_, *m, 96);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  std::printf("tiny, 96 rows: %s (max rel diff %.3g / %.3g)\n", c->note().c_str(),
              c->forward.max_rel_diff, c->backward_inp.max_rel_diff);
  expect_measured(c->forward, 4, "forward");
  expect_measured(c->backward_inp, 4, "backward_inp");
  EXPECT_FALSE(c->remembered);
  EXPECT_EQ(c->paths().forward, c->forward.fused);
  EXPECT_EQ(c->paths().backward_inp, c->backward_inp.fused);

  // The same device, rows and shapes: the earlier measurement, even for another model.
  auto m2 = gpu_model_random(*cx_, gpu_model_shape::tiny(), 64, 8);
  ASSERT_TRUE(m2.ok()) << m2.error().to_string();
  auto again = choose_nf4_gemm(*cx_, *m2, 96);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_TRUE(again->remembered);
  EXPECT_EQ(again->forward.us[0], c->forward.us[0]);
  EXPECT_EQ(again->paths().forward, c->paths().forward);
  EXPECT_EQ(again->paths().backward_inp, c->paths().backward_inp);
  // Other rows: measured afresh.
  auto other = choose_nf4_gemm(*cx_, *m, 32);
  ASSERT_TRUE(other.ok()) << other.error().to_string();
  EXPECT_FALSE(other->remembered);
}

TEST_F(gemm_choice_device, ALinearTheFusedKernelRefusesIsLeftOut) {
  // I = 192: down's C = 192 is no multiple of 128, so the fused backward takes 3 of 4 linears;
  // its forward (C % 64 == 0) takes all four.
  gpu_model_shape s = gpu_model_shape::tiny();
  s.I = 192;
  auto m = gpu_model_random(*cx_, s, 64, 9);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto c = choose_nf4_gemm(*cx_, *m, 40);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  expect_measured(c->forward, 4, "forward");
  expect_measured(c->backward_inp, 3, "backward_inp");
}

TEST_F(gemm_choice_device, ABf16BaseIsNotMeasured) {
  gpu_model_shape s = gpu_model_shape::tiny();
  s.quantized_base = false;
  auto m = gpu_model_random(*cx_, s, 64, 10);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto c = choose_nf4_gemm(*cx_, *m, 64);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  for (const nf4_gemm_direction* d : {&c->forward, &c->backward_inp}) {
    EXPECT_FALSE(d->measured);
    EXPECT_FALSE(d->fused);
    EXPECT_NE(d->note.find("not measured"), std::string::npos) << d->note;
  }
}

TEST_F(gemm_choice_device, RowsMustBePositive) {
  auto m = gpu_model_random(*cx_, gpu_model_shape::tiny(), 64, 11);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto c = choose_nf4_gemm(*cx_, *m, 0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), status_code::invalid_argument);
  EXPECT_EQ(c.error().where(), "N");
}

}  // namespace
}  // namespace kaito::gpu
