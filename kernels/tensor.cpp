// tensor: shape/stride bookkeeping over owned or borrowed storage (see kernels/tensor.h).
#include "kernels/tensor.h"

#include <cstdlib>
#include <cstring>

#include "base/check.h"

namespace kaito {

std::vector<int64_t> tensor::row_major_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

tensor tensor::zeros(dtype t, std::vector<int64_t> shape) {
  tensor out;
  out.type_ = t;
  out.strides_ = row_major_strides(shape);
  out.shape_ = std::move(shape);
  for (int64_t d : out.shape_) KAITO_CHECK(d >= 0, "negative dimension ", d);
  // round up to a multiple of the alignment (aligned_alloc's requirement); at least one line
  size_t bytes = size_t(out.size_bytes());
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  KAITO_CHECK(p != nullptr, "out of memory allocating ", alloc, " bytes");
  std::memset(p, 0, alloc);
  out.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  out.data_ = p;
  return out;
}

tensor tensor::borrow(void* data, dtype t, std::vector<int64_t> shape,
                      std::vector<int64_t> strides) {
  tensor out;
  out.type_ = t;
  out.strides_ = strides.empty() ? row_major_strides(shape) : std::move(strides);
  KAITO_CHECK(out.strides_.size() == shape.size(), "strides rank != shape rank");
  out.shape_ = std::move(shape);
  out.data_ = data;
  return out;
}

int64_t tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

int64_t tensor::size_bytes() const {
  return numel() * dtype_size(type_);
}

bool tensor::is_contiguous() const {
  return strides_ == row_major_strides(shape_);
}

tensor tensor::reshaped(std::vector<int64_t> shape) const {
  KAITO_CHECK(is_contiguous(), "reshape of a strided tensor ", describe());
  tensor out = *this;
  out.strides_ = row_major_strides(shape);
  out.shape_ = std::move(shape);
  KAITO_CHECK(out.numel() == numel(), "reshape changes numel: ", describe(), " -> ",
              out.describe());
  return out;
}

std::string tensor::describe() const {
  std::string s = dtype_name(type_);
  s += "[";
  for (size_t i = 0; i < shape_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape_[i]);
  }
  s += "]";
  return s;
}

}  // namespace kaito
