// device_buffer: the RAII owner of one cudaMalloc'd region (move-only; cudaFree on destruction).
// Every device allocation of engine/cuda (model weights, optimizer state, the trainer's activation
// region) lives in one of these, so no path leaks device memory. Allocation failures come back as
// resource_exhausted naming the buffer. Plain cudaMalloc (256-byte aligned by CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "base/status.h"

namespace kaito::gpu {

class device_buffer {
 public:
  device_buffer() = default;
  ~device_buffer();
  device_buffer(device_buffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  device_buffer& operator=(device_buffer&& o) noexcept;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;

  // bytes == 0 gives an empty buffer (null pointer). `what` names the buffer in errors.
  static result<device_buffer> alloc(size_t bytes, const std::string& what);

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace kaito::gpu
