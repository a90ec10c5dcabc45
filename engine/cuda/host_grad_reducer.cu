// host_grad_reducer (contract: engine/cuda/host_grad_reducer.h).
#include "engine/cuda/host_grad_reducer.h"

#include <string>

#include "engine/cuda/cuda_try.h"

namespace kaito::gpu {

host_grad_reducer::host_grad_reducer(engine::all_reducer& r, cudaStream_t compute, bool average)
    : reducer_(r), compute_(compute), average_(average) {}

host_grad_reducer::~host_grad_reducer() {
  if (staging_ != nullptr) {
    (void)cudaStreamSynchronize(compute_);  // no copy may still target the staging buffer
    (void)cudaFreeHost(staging_);
  }
}

result<size_t> host_grad_reducer::add(float* grad, size_t count) {
  if (sealed_) return status(status_code::failed_precondition, "add() after seal()", "grad");
  if (grad == nullptr || count == 0)
    return invalid_argument("a gradient needs a device buffer and a non-zero count", "grad");
  grads_.push_back({grad, count, total_});
  total_ += count;
  return grads_.size() - 1;
}

status host_grad_reducer::seal() {
  if (sealed_) return status(status_code::failed_precondition, "seal() called twice");
  if (total_ > 0) {
    void* p = nullptr;
    if (cudaMallocHost(&p, total_ * sizeof(float)) != cudaSuccess) {
      (void)cudaGetLastError();
      return status(status_code::resource_exhausted,
                    "cudaMallocHost of " + std::to_string(total_ * sizeof(float)) +
                        " bytes for the gradient staging buffer failed",
                    "staging");
    }
    staging_ = static_cast<float*>(p);
  }
  ready_.assign(grads_.size(), false);
  sealed_ = true;
  return {};
}

status host_grad_reducer::ready(size_t index) {
  if (!sealed_) return status(status_code::failed_precondition, "ready() before seal()");
  if (index >= grads_.size())
    return invalid_argument("gradient index " + std::to_string(index) + " was never added",
                            "index");
  if (ready_[index])
    return status(status_code::failed_precondition,
                  "gradient " + std::to_string(index) + " marked ready twice in one step", "index");
  const entry& e = grads_[index];
  GPU_TRY_CUDA(cudaMemcpyAsync(staging_ + e.offset, e.grad, e.count * sizeof(float),
                               cudaMemcpyDeviceToHost, compute_));
  ready_[index] = true;
  ++ready_count_;
  return {};
}

status host_grad_reducer::finish() {
  if (!sealed_) return status(status_code::failed_precondition, "finish() before seal()");
  const size_t marked = ready_count_;
  ready_.assign(grads_.size(), false);  // the next step starts over, also after a refusal
  ready_count_ = 0;
  if (marked != grads_.size())
    return status(status_code::failed_precondition,
                  std::to_string(grads_.size() - marked) + " of " + std::to_string(grads_.size()) +
                      " gradients were not marked ready",
                  "ready");
  GPU_TRY_CUDA(cudaStreamSynchronize(compute_));  // every ready() copy has landed
  KAITO_TRY(reducer_.all_reduce_sum(staging_, total_));
  if (average_ && reducer_.world_size() > 1) {
    const float inv = 1.0f / float(reducer_.world_size());
    for (size_t i = 0; i < total_; ++i) staging_[i] *= inv;
  }
  for (const entry& e : grads_)
    GPU_TRY_CUDA(cudaMemcpyAsync(e.grad, staging_ + e.offset, e.count * sizeof(float),
                                 cudaMemcpyHostToDevice, compute_));
  return {};
}

}  // namespace kaito::gpu
