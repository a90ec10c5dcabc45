// all_reducer: the collective the data-parallel trainer uses to sum gradients across ranks.
//
// Every rank calls all_reduce_sum with buffers of the same length, in the same order; on return
// every rank holds the element-wise sum, bit-identical on all ranks (implementations reduce each
// element on exactly one rank and copy the result). Implementations: local_all_reducer below
// (one rank, nothing to do) and actors/ring_all_reduce (CPU ring over the actor runtime, for
// GPU-less machines). The GPU trainer takes any of them through engine/cuda/host_grad_reducer.h
// (its gpu_grad_reducer over an all_reducer), beside NCCL (engine/cuda/nccl_grad_reducer.h).
//
// On failure (a peer lost, a timeout) the buffer's contents are unspecified and the status says
// which rank or peer failed; the trainer then stops the step with that error.
//
// Thread-safety: one thread calls a given all_reducer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"

namespace kaito::engine {

class all_reducer {
 public:
  virtual ~all_reducer() = default;
  virtual uint32_t rank() const = 0;
  virtual uint32_t world_size() const = 0;
  // data: count floats, read and overwritten with the sum over every rank.
  virtual status all_reduce_sum(float* data, size_t count) = 0;
};

class local_all_reducer final : public all_reducer {
 public:
  uint32_t rank() const override { return 0; }
  uint32_t world_size() const override { return 1; }
  status all_reduce_sum(float*, size_t) override { return {}; }
};

// A non-negative count (below 2^40) summed over every rank, exactly: two float halves, each sum
// staying below 2^24 for fewer than 256 ranks. The trainers' supervised-token totals.
inline result<int64_t> all_reduce_count(all_reducer& r, int64_t n) {
  float h[2] = {static_cast<float>(n >> 16), static_cast<float>(n & 0xffff)};
  KAITO_TRY(r.all_reduce_sum(h, 2));
  return (static_cast<int64_t>(h[0]) << 16) + static_cast<int64_t>(h[1]);
}

}  // namespace kaito::engine
