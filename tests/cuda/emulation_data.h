// emulation_data.h: random bf16 inputs for the emulation tests (tests/cuda/*_emulation_test.cpp),
// with the float values they hold, so a CPU twin and an emulated kernel see the same numbers.
#pragma once

#include <cuda_bf16.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace kaito::testing {

// n values uniform in [-scale, scale], rounded to bf16 into `bf`; returns their float values.
inline std::vector<float> random_bf16(std::mt19937& rng, int64_t n, float scale,
                                      std::vector<__nv_bfloat16>& bf) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> f(static_cast<size_t>(n));
  bf.resize(size_t(n));
  for (size_t i = 0; i < f.size(); ++i) {
    bf[i] = __float2bfloat16_rn(u(rng));
    f[i] = __bfloat162float(bf[i]);
  }
  return f;
}

// The float values of bf16 data.
inline std::vector<float> to_float(const std::vector<__nv_bfloat16>& x) {
  std::vector<float> f(x.size());
  for (size_t i = 0; i < x.size(); ++i) f[i] = __bfloat162float(x[i]);
  return f;
}

}  // namespace kaito::testing
