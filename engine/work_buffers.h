// work_buffers: the float work-buffer helpers model_forward and model_backward share.
//   ensure(v, n)        sizes v to n elements keeping its storage from the previous step, without
//                       clearing it (every kernel that writes the buffer overwrites it (=)), so a
//                       training loop that reuses one forward_state allocates and page-faults
//                       nothing after its first step; returns v.data().
//   add(out, a, b, n)   out = a + b over n floats (residual sums), on the kernel thread pool.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/parallel_for.h"

namespace kaito::engine {

inline float* ensure(std::vector<float>& v, int64_t n) {
  v.resize(static_cast<size_t>(n));
  return v.data();
}

inline void add(float* out, const float* a, const float* b, int64_t n) {
  parallel_for(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
  });
}

}  // namespace kaito::engine
