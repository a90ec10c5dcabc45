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

}  // namespace kaito::engine
