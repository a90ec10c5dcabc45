// cuda_context: error mapping (host-only, runs everywhere), the no-device path (runs where there is
// no GPU), and the arena / sticky-error behaviour (runs where there is one; skipped elsewhere).
#include "kernels/cuda/cuda_context.h"

#include <gtest/gtest.h>

namespace kaito {
namespace {

TEST(CudaErrorStatus, MapsRuntimeErrorsToCodesAndNamesTheCall) {
  const status oom = cuda_error_status(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "x.cu", 12);
  EXPECT_EQ(oom.code(), status_code::resource_exhausted);
  EXPECT_NE(oom.message().find("cudaErrorMemoryAllocation"), std::string::npos);
  EXPECT_NE(oom.message().find("cudaMalloc(&p, n)"), std::string::npos);
  EXPECT_EQ(oom.where(), "x.cu:12");
  EXPECT_EQ(cuda_error_status(cudaErrorNoDevice, "e", "f", 1).code(), status_code::unavailable);
  EXPECT_EQ(cuda_error_status(cudaErrorInsufficientDriver, "e", "f", 1).code(),
            status_code::unavailable);
  EXPECT_EQ(cuda_error_status(cudaErrorIllegalAddress, "e", "f", 1).code(), status_code::internal);
}

TEST(CudaErrorStatus, MapsCublasErrors) {
  EXPECT_EQ(cublas_error_status(CUBLAS_STATUS_ALLOC_FAILED, "e", "f", 1).code(),
            status_code::resource_exhausted);
  EXPECT_EQ(cublas_error_status(CUBLAS_STATUS_NOT_SUPPORTED, "e", "f", 1).code(),
            status_code::unimplemented);
  const status s = cublas_error_status(CUBLAS_STATUS_EXECUTION_FAILED, "cublasLtMatmul", "g.cu", 7);
  EXPECT_EQ(s.code(), status_code::internal);
  EXPECT_NE(s.message().find("cublasLtMatmul"), std::string::npos);
}

TEST(CudaContext, CreateWithoutDeviceIsUnavailable) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  auto cx = cuda_context::create();
  ASSERT_FALSE(cx.ok());
  EXPECT_EQ(cx.error().code(), status_code::unavailable);
}

TEST(CudaContext, BadDeviceIndexIsInvalidArgument) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  cuda_context_options o;
  o.device = cuda_device_count();
  auto cx = cuda_context::create(o);
  ASSERT_FALSE(cx.ok());
  EXPECT_EQ(cx.error().code(), status_code::invalid_argument);
  EXPECT_EQ(cx.error().where(), "device");
}

TEST(CudaContext, ArenaAlignsRewindsAndRefusesOverflow) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  cuda_context_options o;
  o.arena_bytes = 4096;
  auto cx = cuda_context::create(o);
  ASSERT_TRUE(cx.ok()) << cx.error().to_string();
  cuda_arena& a = (*cx)->arena();
  auto p1 = a.alloc(10);
  ASSERT_TRUE(p1.ok());
  const size_t mark = a.mark();
  auto p2 = a.alloc(100);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(static_cast<char*>(*p2) - static_cast<char*>(*p1), 256);  // 256-byte aligned slices
  const size_t used = a.used();
  auto big = a.alloc(4096);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), status_code::resource_exhausted);
  EXPECT_EQ(a.used(), used);  // unchanged on failure
  a.rewind(mark);
  auto p3 = a.alloc(100);
  ASSERT_TRUE(p3.ok());
  EXPECT_EQ(*p3, *p2);
  EXPECT_EQ(a.high_water(), used);
}

TEST(CudaContext, FirstRecordedErrorIsStickyUntilTaken) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  auto cx = cuda_context::create();
  ASSERT_TRUE(cx.ok()) << cx.error().to_string();
  (*cx)->record_error(status(status_code::internal, "first"));
  (*cx)->record_error(status(status_code::unimplemented, "second"));
  EXPECT_TRUE((*cx)->has_error());
  const status s = (*cx)->synchronize();
  EXPECT_EQ(s.message(), "first");
  EXPECT_FALSE((*cx)->has_error());
  EXPECT_TRUE((*cx)->synchronize().ok());
}

}  // namespace
}  // namespace kaito
