// head_size.cuh: the head sizes the SIMT attention kernels (attention.cu, attention_decode.cu)
// are compiled for (kernels/attention.h: attention_head_size), and the one switch from a runtime
// HS to their template argument, shared by the launchers and the CPU emulation tests.
//   with_head_size(HS, f): f(std::integral_constant<int, HS>{}) for HS in 16, 32, 64, 96, 128;
//     anything else is the caller's error (the launchers check attention_head_size first) and
//     gets 128.
//   lane_owns<HS>(lane, kd): the kernels' warps hold a head-dim vector as dims lane + 32 kd,
//     kd < ceil(HS / 32); below 32 dims (or at a size not a multiple of 32) the top lanes own
//     nothing in the last slot and must neither read nor write it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace kaito {

template <int HS>
constexpr int head_slots = (HS + 31) / 32;

template <int HS>
__host__ __device__ __forceinline__ constexpr bool lane_owns(int lane, int kd) {
  return HS % 32 == 0 || lane + 32 * kd < HS;
}

template <class F>
void with_head_size(int64_t HS, F&& f) {
  switch (HS) {
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    case 96:
      return f(std::integral_constant<int, 96>{});
    default:
      return f(std::integral_constant<int, 128>{});
  }
}

}  // namespace kaito
