// device_buffer (contract: engine/cuda/device_buffer.h).
#include <cuda_runtime_api.h>

#include <utility>

#include "engine/cuda/device_buffer.h"

namespace kaito::gpu {

device_buffer::~device_buffer() {
  if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
}

device_buffer& device_buffer::operator=(device_buffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

result<device_buffer> device_buffer::alloc(size_t bytes, const std::string& what) {
  device_buffer b;
  if (bytes == 0) return std::move(b);
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    static_cast<void>(cudaGetLastError());  // clear the (non-sticky) allocation error
    return status(
        status_code::resource_exhausted,
        "cudaMalloc of " + std::to_string(bytes) + " bytes failed: " + cudaGetErrorString(err),
        what);
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return std::move(b);
}

}  // namespace kaito::gpu
