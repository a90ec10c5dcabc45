// decide_gemv_kernel (engine/cuda/gemv_choice.h): the decode GEMV kernel picked from the two
// kernels' timings and their agreement; the measuring half needs a GPU (infer_test runs it).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/cuda/gemv_choice.h"

namespace kaito::gpu {
namespace {

TEST(GemvChoice, TheFasterKernelWinsWhenTheyAgree) {
  gemv_choice c = decide_gemv_kernel(900.0, 600.0, 3e-3);
  EXPECT_EQ(c.kernel, nf4_gemv_kernel::register_lut);
  EXPECT_TRUE(c.measured);
  EXPECT_EQ(c.us[0], 900.0);
  EXPECT_EQ(c.us[1], 600.0);
  EXPECT_NE(c.note.find("register_lut: 600.0 us"), std::string::npos) << c.note;
  c = decide_gemv_kernel(600.0, 900.0, 3e-3);
  EXPECT_EQ(c.kernel, nf4_gemv_kernel::scaled_lut);
  EXPECT_NE(c.note.find("scaled_lut: 600.0 us"), std::string::npos) << c.note;
  // a tie keeps scaled_lut (its values are exactly nf4_dequantize's)
  EXPECT_EQ(decide_gemv_kernel(700.0, 700.0, 0.0).kernel, nf4_gemv_kernel::scaled_lut);
}

TEST(GemvChoice, AKernelThatDisagreesIsNeverChosen) {
  for (double diff : {kGemvAgreement * 1.01, 1.0, double(INFINITY), double(NAN)}) {
    const gemv_choice c = decide_gemv_kernel(900.0, 100.0, diff);
    EXPECT_EQ(c.kernel, nf4_gemv_kernel::scaled_lut) << diff;
    EXPECT_NE(c.note.find("disagrees"), std::string::npos) << c.note;
  }
  EXPECT_EQ(decide_gemv_kernel(900.0, 100.0, kGemvAgreement).kernel, nf4_gemv_kernel::register_lut);
}

TEST(GemvChoice, KernelNames) {
  EXPECT_STREQ(nf4_gemv_kernel_name(nf4_gemv_kernel::scaled_lut), "scaled_lut");
  EXPECT_STREQ(nf4_gemv_kernel_name(nf4_gemv_kernel::register_lut), "register_lut");
}

}  // namespace
}  // namespace kaito::gpu
