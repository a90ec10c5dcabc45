// Test-only: a GoogleTest binary that needs a CUDA device (the real one or the emulated runtime)
// exits 77 before its first test when there is none, which CTest reports as skipped
// (SKIP_RETURN_CODE 77) instead of a pass of skipped tests; cuda_fixture gives each test a
// cuda_context.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "kernels/cuda/cuda_context.h"

namespace kaito::testing {

class require_cuda_device final : public ::testing::Environment {
 public:
  void SetUp() override {
    if (cuda_device_count() > 0) return;
    std::printf("no CUDA device: skipped\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
};

inline const bool kRequireCudaDevice = [] {
  ::testing::AddGlobalTestEnvironment(new require_cuda_device);
  return true;
}();

// A fixture whose tests get a fresh cuda_context in cx_.
class cuda_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
    auto cx = cuda_context::create();
    ASSERT_TRUE(cx.ok()) << cx.error().to_string();
    cx_ = std::move(cx).value();
  }
  std::unique_ptr<cuda_context> cx_;
};

}  // namespace kaito::testing
