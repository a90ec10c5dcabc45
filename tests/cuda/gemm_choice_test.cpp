// decide_nf4_gemm (engine/cuda/gemm_choice.h): one direction's NF4 GEMM path picked from the two
// paths' timings and their agreement; the measuring half runs in gemm_choice_device_test.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/cuda/gemm_choice.h"

namespace kaito::gpu {
namespace {

TEST(GemmChoice, TheFasterPathWinsWhenTheyAgree) {
  nf4_gemm_direction d = decide_nf4_gemm(4, 1020.0, 812.0, 2e-3);
  EXPECT_TRUE(d.fused);
  EXPECT_TRUE(d.measured);
  EXPECT_EQ(d.linears, 4);
  EXPECT_EQ(d.us[0], 1020.0);
  EXPECT_EQ(d.us[1], 812.0);
  EXPECT_EQ(d.max_rel_diff, 2e-3);
  EXPECT_EQ(d.note, "fused: 812.0 us vs dequantize 1020.0 us per layer");
  d = decide_nf4_gemm(4, 812.0, 1020.0, 2e-3);
  EXPECT_FALSE(d.fused);
  EXPECT_EQ(d.note, "dequantize: 812.0 us vs fused 1020.0 us per layer");
  // a tie keeps dequantize + cuBLASLt
  EXPECT_FALSE(decide_nf4_gemm(4, 700.0, 700.0, 0.0).fused);
}

TEST(GemmChoice, APathThatDisagreesIsNeverChosen) {
  for (double diff : {kGemmAgreement * 1.01, 1.0, double(INFINITY), double(NAN)}) {
    const nf4_gemm_direction d = decide_nf4_gemm(4, 900.0, 100.0, diff);
    EXPECT_FALSE(d.fused) << diff;
    EXPECT_TRUE(d.measured) << diff;
    EXPECT_NE(d.note.find("fused disagrees"), std::string::npos) << d.note;
  }
  EXPECT_TRUE(decide_nf4_gemm(4, 900.0, 100.0, kGemmAgreement).fused);
}

TEST(GemmChoice, NothingToMeasureStaysOnDequantize) {
  const nf4_gemm_direction d = decide_nf4_gemm(0, 900.0, 100.0, 0.0);
  EXPECT_FALSE(d.fused);
  EXPECT_FALSE(d.measured);
  EXPECT_EQ(d.us[0], 0.0);
  EXPECT_NE(d.note.find("not measured"), std::string::npos) << d.note;
}

TEST(GemmChoice, PathsAndNote) {
  gemm_choice c;
  c.forward = decide_nf4_gemm(4, 1020.0, 812.0, 0.0);
  c.backward_inp = decide_nf4_gemm(3, 500.0, 600.0, 0.0);
  EXPECT_TRUE(c.paths().forward);
  EXPECT_FALSE(c.paths().backward_inp);
  EXPECT_EQ(c.note(),
            "forward: fused: 812.0 us vs dequantize 1020.0 us per layer; backward_inp: dequantize: "
            "500.0 us vs fused 600.0 us per layer");
  c.remembered = true;
  EXPECT_NE(c.note().find("(remembered)"), std::string::npos);
}

}  // namespace
}  // namespace kaito::gpu
