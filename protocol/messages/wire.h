// Wire basics shared by every actor conversation: the protocol version, float-safe scalar and
// tensor carriers, and the label pair.
//
// CAF 0.17.6's serializer corrupts floats (-0 -> 0, NaN -> 1, denormals -> garbage) and loops
// forever on +Inf, freezing the sender's middleman (../shared/reference/caf.md section 7). So no
// `float`/`double` field ever crosses CAF here: scalars travel as their IEEE-754 bits
// (`wire_f32`), arrays as raw little-endian bytes (`tensor_bytes`, which CAF copies with one
// memcpy through its byte-sequence fast path).
//
// Every type name carries the wire version ("kaito.<name>.v1"); peers whose names differ cannot
// deserialize each other's messages, and the published interfaces (interfaces.h) differ too,
// so remote_actor() refuses an older peer with unexpected_actor_messaging_interface.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "caf/meta/type_name.hpp"

namespace kaito::msg {

// Bumped whenever a message's fields change; also sent in every hello.
inline constexpr uint32_t wire_version = 1;
// The middleman's application identifier: BASP refuses a peer with a different one.
inline constexpr const char* wire_app_id = "kaito-wire-v1";

struct wire_f32 {
  uint32_t bits = 0;
  static wire_f32 from(float v) { return {std::bit_cast<uint32_t>(v)}; }
  float value() const { return std::bit_cast<float>(bits); }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_f32& x) {
  return f(caf::meta::type_name("kaito.wire_f32.v1"), x.bits);
}

// A dense array as raw bytes. dtype is "f32", "bf16", "f16", "u8" or "i64"; data.size() must
// equal prod(shape) * dtype size (checked by tensor_bytes_valid before use, never trusted).
struct tensor_bytes {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tensor_bytes& x) {
  return f(caf::meta::type_name("kaito.tensor_bytes.v1"), x.dtype, x.shape, x.data);
}

tensor_bytes make_f32_tensor(const float* values, std::vector<int64_t> shape);
// Empty string when valid, else what is wrong (dtype, negative dim, size mismatch).
std::string tensor_bytes_error(const tensor_bytes& t);
// Copies the values out; requires dtype "f32" and a valid tensor (else returns empty).
std::vector<float> f32_values(const tensor_bytes& t);

struct label {
  std::string key;
  std::string value;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, label& x) {
  return f(caf::meta::type_name("kaito.label.v1"), x.key, x.value);
}

}  // namespace kaito::msg
