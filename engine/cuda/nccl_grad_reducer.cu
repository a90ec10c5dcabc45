// nccl_grad_reducer (contract: engine/cuda/nccl_grad_reducer.h).
#include "engine/cuda/nccl_grad_reducer.h"

#include <string>

#include "engine/cuda/cuda_try.h"

namespace kaito::gpu {

nccl_grad_reducer::nccl_grad_reducer(nccl_comm& comm, cudaStream_t compute, size_t bucket_bytes,
                                     bool average)
    : compute_(compute), bucketer_(comm, compute, bucket_bytes, average) {}

result<size_t> nccl_grad_reducer::add(float* grad, size_t count) {
  if (sealed_) return status(status_code::failed_precondition, "add() after seal()", "grad");
  if (grad == nullptr || count == 0)
    return invalid_argument("a gradient needs a device buffer and a non-zero count", "grad");
  KAITO_ASSIGN_OR_RETURN(const size_t index, bucketer_.add(count));
  if (index != grads_.size())
    return status(status_code::internal, "bucket plan index " + std::to_string(index) +
                                             " out of step with " + std::to_string(grads_.size()));
  grads_.push_back({grad, count});
  return index;
}

status nccl_grad_reducer::seal() {
  if (sealed_) return status(status_code::failed_precondition, "seal() called twice");
  KAITO_TRY(bucketer_.allocate());
  sealed_ = true;
  return {};
}

status nccl_grad_reducer::ready(size_t index) {
  if (!sealed_) return status(status_code::failed_precondition, "ready() before seal()");
  if (index >= grads_.size())
    return invalid_argument("gradient index " + std::to_string(index) + " was never added",
                            "index");
  const entry& e = grads_[index];
  GPU_TRY_CUDA(cudaMemcpyAsync(bucketer_.grad(index), e.grad, e.count * sizeof(float),
                               cudaMemcpyDeviceToDevice, compute_));
  return bucketer_.ready(index);
}

status nccl_grad_reducer::finish() {
  if (!sealed_) return status(status_code::failed_precondition, "finish() before seal()");
  KAITO_TRY(bucketer_.finish());  // the compute stream now waits for every bucket
  for (size_t i = 0; i < grads_.size(); ++i)
    GPU_TRY_CUDA(cudaMemcpyAsync(grads_[i].grad, bucketer_.grad(i), grads_[i].count * sizeof(float),
                                 cudaMemcpyDeviceToDevice, compute_));
  return {};
}

}  // namespace kaito::gpu
