// Raw-bytes tensor helpers; see wire.h.
#include "protocol/messages/wire.h"

#include <limits>

namespace kaito::msg {

namespace {

size_t dtype_size(const std::string& d) {
  if (d == "f32") return 4;
  if (d == "bf16" || d == "f16") return 2;
  if (d == "u8") return 1;
  if (d == "i64") return 8;
  return 0;
}

}  // namespace

tensor_bytes make_f32_tensor(const float* values, std::vector<int64_t> shape) {
  tensor_bytes t;
  t.dtype = "f32";
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  t.shape = std::move(shape);
  t.data.resize(n * sizeof(float));
  if (n) std::memcpy(t.data.data(), values, n * sizeof(float));
  return t;
}

std::string tensor_bytes_error(const tensor_bytes& t) {
  size_t es = dtype_size(t.dtype);
  if (es == 0) return "dtype: unknown \"" + t.dtype + "\"";
  size_t n = 1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t d = t.shape[i];
    if (d < 0) return "shape[" + std::to_string(i) + "]: negative";
    if (d != 0 && n > std::numeric_limits<size_t>::max() / static_cast<size_t>(d) / es)
      return "shape: element count overflows";
    n *= static_cast<size_t>(d);
  }
  if (n * es != t.data.size())
    return "data: " + std::to_string(t.data.size()) + " bytes, shape needs " +
           std::to_string(n * es);
  return {};
}

std::vector<float> f32_values(const tensor_bytes& t) {
  if (t.dtype != "f32" || !tensor_bytes_error(t).empty()) return {};
  std::vector<float> out(t.data.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

}  // namespace kaito::msg
