// nccl_grad_reducer: gpu_grad_reducer (engine/cuda/grad_reducer.h) over NCCL, built only where
// CMake found NCCL (KAITO_HAVE_NCCL). It drives kernels/cuda/nccl_comm.h's nccl_grad_bucketer
// (DDP-style buckets, each all-reduced on a comm stream as soon as backward completes it):
//   ready(i)   copies gradient i into its bucket slot on the compute stream (device to device),
//              then marks it ready; a complete bucket's all-reduce is enqueued behind an event;
//   finish()   makes the compute stream wait for every bucket, then copies the reduced values
//              back into the trainer's buffers (on the compute stream).
// The copies cost 2 x the LoRA gradient bytes per step (about 100 MB for Phi-3-mini r=8, tens of
// microseconds of HBM time); keeping the trainer's own buffers keeps the model's layout unchanged.
// average: divide by the world size (PyTorch DDP's mean; HF Trainer's data-parallel loss).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <vector>

#include "engine/cuda/grad_reducer.h"
#include "kernels/cuda/nccl_comm.h"

namespace kaito::gpu {

class nccl_grad_reducer final : public gpu_grad_reducer {
 public:
  // comm must outlive the reducer; compute is the trainer's stream (cuda_context::stream()).
  nccl_grad_reducer(nccl_comm& comm, cudaStream_t compute, size_t bucket_bytes = size_t{25} << 20,
                    bool average = true);

  result<size_t> add(float* grad, size_t count) override;
  status seal() override;
  status ready(size_t index) override;
  status finish() override;

 private:
  struct entry {
    float* grad;
    size_t count;
  };
  cudaStream_t compute_;
  nccl_grad_bucketer bucketer_;
  std::vector<entry> grads_;
  bool sealed_ = false;
};

}  // namespace kaito::gpu
