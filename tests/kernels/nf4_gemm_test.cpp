// kernels/nf4_gemm.h: panel-wise NF4 linear layers equal dequantize-then-GEMM (odd shapes, blocks
// spanning rows, several panels, bias, 1-row inputs).
#include "kernels/nf4_gemm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/gemm.h"
#include "kernels/nf4.h"
#include "tests/kernels/kernel_test_util.h"

namespace kaito {
namespace {

TEST(nf4_gemm, equals_dequantize_then_gemm) {
  struct shape {
    int64_t N, C, OC;
  };
  // C = 100: 64-blocks span rows and the weight has odd-aligned rows; C = 4096: 64-row panels,
  // so OC = 130 takes three panels; 3 x 5: one partial block, odd element count.
  for (shape s : {shape{1, 100, 7}, shape{5, 100, 33}, shape{3, 4096, 130}, shape{2, 5, 3}}) {
    auto w = testing::random_vec(s.OC * s.C, 1), inp = testing::random_vec(s.N * s.C, 2),
         dout = testing::random_vec(s.N * s.OC, 3), bias = testing::random_vec(s.OC, 4);
    nf4_quant_state qs = nf4_quantize_weight(w.data(), {s.OC, s.C}, dtype::f32, false);
    std::vector<float> deq(w.size());
    ASSERT_TRUE(nf4_dequantize_weight(qs, deq.data()).ok());
    std::vector<float> o1(s.N * s.OC, NAN), o2(o1.size(), NAN);
    nf4_gemm_forward_cpu(o1.data(), inp.data(), qs.packed.data(), qs.absmax.data(), bias.data(),
                         s.N, s.C, s.OC);
    gemm_forward_cpu(o2.data(), inp.data(), deq.data(), bias.data(), s.N, s.C, s.OC);
    // identical products; only the BLAS blocking per panel may reorder the K-sums (fp32, K<=4096)
    EXPECT_LT(testing::max_rel_err(o1, o2), 1e-5) << s.N << "x" << s.C << "x" << s.OC;
    std::vector<float> d1(s.N * s.C, NAN), d2(d1.size(), NAN);
    nf4_gemm_backward_inp_cpu(d1.data(), dout.data(), qs.packed.data(), qs.absmax.data(), s.N, s.C,
                              s.OC);
    gemm_backward_inp_cpu(d2.data(), dout.data(), deq.data(), s.N, s.C, s.OC);
    EXPECT_LT(testing::max_rel_err(d1, d2), 1e-5);
  }
}

}  // namespace
}  // namespace kaito
