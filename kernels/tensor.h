// tensor: a dtype, a shape, strides and a pointer to storage that is either owned or borrowed.
// No math lives here: kernels take raw pointers and sizes (see the op headers); the tensor is the
// engine's bookkeeping for which buffer is which (ggml's tensor / llm.c's ParameterTensors role).
//
// Layout: strides are in elements, row-major by default (last dimension contiguous).
// Ownership: an owning tensor allocates zeroed host memory (64-byte aligned) and frees it on
// destruction; a borrowed tensor points at memory someone else keeps live (an mmap'ed safetensors
// file, a device buffer): that memory must remain live while the tensor or any copy of it is used.
// Copies share storage (shared_ptr semantics); copy and move are defaulted.
// Thread-safety: const methods may be called concurrently; mutation of the data is the caller's
// business.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace kaito {

class tensor {
 public:
  tensor() = default;
  tensor(const tensor&) = default;
  tensor(tensor&&) = default;
  tensor& operator=(const tensor&) = default;
  tensor& operator=(tensor&&) = default;

  // Owning, zero-filled, contiguous row-major.
  static tensor zeros(dtype t, std::vector<int64_t> shape);
  // Borrowed view of `data` (not freed here); strides empty = contiguous row-major.
  static tensor borrow(void* data, dtype t, std::vector<int64_t> shape,
                       std::vector<int64_t> strides = {});

  dtype type() const { return type_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t rank() const { return int64_t(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[size_t(i)]; }
  int64_t numel() const;       // product of the shape (1 for rank 0)
  int64_t size_bytes() const;  // numel * dtype_size (contiguous footprint)
  bool is_contiguous() const;  // strides are the row-major ones for the shape
  bool owns_data() const { return storage_ != nullptr; }
  bool empty() const { return data_ == nullptr; }

  void* data() const { return data_; }
  template <class T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }

  // Same storage, new shape (contiguous tensors only; numel must match). KAITO_CHECKs both.
  tensor reshaped(std::vector<int64_t> shape) const;

  // "bf16[2, 3]" for errors and logs.
  std::string describe() const;

  static std::vector<int64_t> row_major_strides(const std::vector<int64_t>& shape);

 private:
  dtype type_ = dtype::f32;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;  // non-null when owning
};

}  // namespace kaito
