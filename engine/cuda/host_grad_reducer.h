// host_grad_reducer: gpu_grad_reducer (engine/cuda/grad_reducer.h) over any engine::all_reducer
// (engine/all_reduce.h): the CPU ring all-reduce over the actor runtime
// (actors/ring_all_reduce.h) gives GPU ranks the same interface NCCL does, for machines where
// NCCL cannot connect the ranks (no NCCL library, no shared network NCCL can use), and the same
// reducer drives the CPU trainer's ring on GPU-less machines.
//   add/seal   every gradient gets a slice of ONE pinned host staging buffer (cudaMallocHost,
//              allocated by seal()), in registration order.
//   ready(i)   enqueues the device-to-host copy of gradient i on the trainer's stream, so the
//              copies run as backward produces the gradients (the copy engine overlaps them
//              with later layers' kernels).
//   finish()   waits for the stream (every copy done), runs all_reduce_sum once over the whole
//              staging buffer on this thread (the ring pipelines it in pieces), divides by the
//              world size when averaging, and enqueues the host-to-device copies back into the
//              trainer's buffers. The network time is NOT overlapped with backward (NCCL's
//              buckets are); the staging costs 2 x the gradient bytes over PCIe per step.
// Every gradient must be marked ready exactly once per step before finish()
// (failed_precondition otherwise: a stale slice would be summed); a refused finish() abandons the
// step, and the next one starts with no gradient marked.
// Errors: the all_reducer's status (a lost peer names it) comes back from finish(); CUDA
// failures as statuses. Thread-safety: the trainer's host thread only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <vector>

#include "engine/all_reduce.h"
#include "engine/cuda/grad_reducer.h"

namespace kaito::gpu {

class host_grad_reducer final : public gpu_grad_reducer {
 public:
  // r must outlive the reducer; compute is the trainer's stream (cuda_context::stream()).
  host_grad_reducer(engine::all_reducer& r, cudaStream_t compute, bool average = true);
  ~host_grad_reducer() override;
  host_grad_reducer(const host_grad_reducer&) = delete;
  host_grad_reducer& operator=(const host_grad_reducer&) = delete;

  result<size_t> add(float* grad, size_t count) override;
  status seal() override;
  status ready(size_t index) override;
  status finish() override;

  size_t staged_floats() const { return total_; }

 private:
  struct entry {
    float* grad;
    size_t count, offset;  // offset into staging_, floats
  };
  engine::all_reducer& reducer_;
  cudaStream_t compute_;
  bool average_;
  std::vector<entry> grads_;
  size_t total_ = 0;
  float* staging_ = nullptr;  // pinned, total_ floats
  std::vector<bool> ready_;   // this step's ready() calls
  size_t ready_count_ = 0;
  bool sealed_ = false;
};

}  // namespace kaito::gpu
