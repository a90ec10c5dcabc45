// The fused NF4 tensor-core GEMMs' host preconditions (kernels/nf4.h nf4_gemm_mma_*_check), which
// both the launchers and gpu_model's fallback choice use: no GPU needed.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "kernels/nf4.h"

namespace kaito {
namespace {

alignas(16) unsigned char g_buf[1024];

template <class T>
T* at(size_t offset) {
  return reinterpret_cast<T*>(g_buf + offset);
}

std::string fwd(size_t out_off, size_t inp_off, int64_t N, int64_t C, int64_t OC) {
  return nf4_gemm_mma_forward_check(at<bf16>(out_off), at<bf16>(inp_off), at<uint8_t>(0),
                                    at<float>(0), N, C, OC)
      .to_string();
}
std::string bwd(size_t dinp_off, size_t dout_off, int64_t N, int64_t C, int64_t OC) {
  return nf4_gemm_mma_backward_inp_check(at<bf16>(dinp_off), at<bf16>(dout_off), at<uint8_t>(0),
                                         at<float>(0), N, C, OC)
      .to_string();
}

TEST(nf4_mma_check, forward_shapes) {
  EXPECT_TRUE(nf4_gemm_mma_forward_check(at<bf16>(0), at<bf16>(0), at<uint8_t>(0), at<float>(0),
                                         4096, 3072, 9216)
                  .ok());
  EXPECT_EQ(fwd(0, 0, 0, 64, 128), "ok") << "N = 0 is a valid empty product";
  EXPECT_NE(fwd(0, 0, 16, 96, 128).find("C % 64 == 0"), std::string::npos);
  EXPECT_NE(fwd(0, 0, 16, 64, 192).find("OC % 128 == 0"), std::string::npos);
  EXPECT_NE(fwd(0, 0, -1, 64, 128).find("(N=-1 C=64 OC=128)"), std::string::npos);
  EXPECT_NE(fwd(0, 0, int64_t(65535) * 128 + 1, 64, 128).find("65535*128"), std::string::npos);
  EXPECT_NE(fwd(0, 0, 1, int64_t(1) << 32, 128).find("C % 64"), std::string::npos);
}

TEST(nf4_mma_check, forward_alignment) {
  EXPECT_NE(fwd(0, 8, 16, 64, 128).find("inp and packed must be 16-byte aligned"),
            std::string::npos);
  EXPECT_NE(fwd(2, 0, 16, 64, 128).find("out and absmax 4-byte aligned"), std::string::npos);
  EXPECT_EQ(fwd(4, 16, 16, 64, 128), "ok");
  EXPECT_NE(nf4_gemm_mma_forward_check(at<bf16>(0), at<bf16>(0), at<uint8_t>(4), at<float>(0), 16,
                                       64, 128)
                .to_string()
                .find("16-byte"),
            std::string::npos);
}

TEST(nf4_mma_check, backward_swaps_the_divisors) {
  EXPECT_EQ(bwd(0, 0, 16, 128, 64), "ok");
  EXPECT_NE(bwd(0, 0, 16, 64, 128).find("C % 128 == 0"), std::string::npos);
  EXPECT_NE(bwd(0, 0, 16, 128, 96).find("OC % 64 == 0"), std::string::npos);
  EXPECT_NE(bwd(0, 8, 16, 128, 64).find("dout and packed must be 16-byte aligned"),
            std::string::npos);
  EXPECT_NE(bwd(2, 0, 16, 128, 64).find("dinp and absmax 4-byte aligned"), std::string::npos);
  EXPECT_NE(bwd(0, 0, 16, 128, 64 * 3 + 1).find("nf4_gemm_mma_backward_inp_cuda"),
            std::string::npos);
}

}  // namespace
}  // namespace kaito
