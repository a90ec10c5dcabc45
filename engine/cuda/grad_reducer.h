// gpu_grad_reducer: how gpu_trainer sums its LoRA gradients across data-parallel ranks, overlapped
// with backward. The trainer only sees this interface: engine/cuda/nccl_grad_reducer.h implements
// it over NCCL (kernels/cuda/nccl_comm.h), engine/cuda/host_grad_reducer.h over any
// engine::all_reducer (engine/all_reduce.h), which is how the CPU ring all-reduce over the actor
// runtime (actors/ring_all_reduce.h, also the CPU trainer's) serves GPU ranks without NCCL.
//
// Protocol, driven by gpu_trainer:
//   set-up   add(grad, count) for every gradient in the order backward completes them (last layer
//            first), then seal(). `grad` is the trainer's device buffer (fp32, count elements).
//   a step   ready(i) as soon as backward has enqueued the last write of gradient i (enqueue only:
//            the reduction may run on another stream behind an event); after backward, finish():
//            when it returns, work enqueued on the trainer's stream afterwards sees every
//            gradient summed over the ranks (and divided by the world size when averaging) in
//            the trainer's own buffers.
// Errors are statuses (a lost peer included: the implementation must not hang the caller).
// Thread-safety: the trainer's host thread only.
#pragma once

#include <cstddef>

#include "base/status.h"

namespace kaito::gpu {

class gpu_grad_reducer {
 public:
  virtual ~gpu_grad_reducer() = default;
  virtual result<size_t> add(float* grad, size_t count) = 0;
  virtual status seal() = 0;
  virtual status ready(size_t index) = 0;
  virtual status finish() = 0;
};

}  // namespace kaito::gpu
