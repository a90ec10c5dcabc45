// Test-only: reads one F32, BF16 or I64 tensor by name from a shared/fixtures safetensors file. It
// scans the compact JSON header that the safetensors serializer writes
// ("name":{...,"data_offsets":[a,b]}); the validating reader is engine/safetensors.{h,cpp}, which
// kernels/ may not depend on.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace kaito::testing {

// The raw bytes of tensor `name` if its dtype is `dtype` ("F32", "I64"); empty if the file or
// the tensor is missing (the caller asserts on the size).
inline std::string read_fixture_raw(const std::string& path, const std::string& name,
                                    const std::string& dtype) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) return {};
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);  // little-endian u64 header length (x86 host)
  if (n > bytes.size() - 8) return {};
  std::string header = bytes.substr(8, n);
  size_t at = header.find("\"" + name + "\":");
  if (at == std::string::npos) return {};
  size_t end = header.find('}', at);
  size_t dt = header.find("\"dtype\":\"" + dtype + "\"", at);
  size_t off = header.find("\"data_offsets\":[", at);
  if (dt == std::string::npos || dt > end || off == std::string::npos || off > end) return {};
  off += std::strlen("\"data_offsets\":[");
  uint64_t a = std::stoull(header.substr(off));
  uint64_t b = std::stoull(header.substr(header.find(',', off) + 1));
  if (b < a || 8 + n + b > bytes.size()) return {};
  return bytes.substr(8 + n + a, b - a);
}

inline std::vector<float> read_fixture_f32(const std::string& path, const std::string& name) {
  std::string raw = read_fixture_raw(path, name, "F32");
  std::vector<float> out(raw.size() / 4);
  std::memcpy(out.data(), raw.data(), out.size() * 4);
  return out;
}

// F32 or BF16 (widened exactly) tensor `name`; empty if missing or of another dtype.
inline std::vector<float> read_fixture_float(const std::string& path, const std::string& name) {
  std::vector<float> out = read_fixture_f32(path, name);
  if (!out.empty()) return out;
  std::string raw = read_fixture_raw(path, name, "BF16");
  out.resize(raw.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t bits = uint32_t(uint8_t(raw[2 * i])) << 16 | uint32_t(uint8_t(raw[2 * i + 1])) << 24;
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

inline std::vector<int64_t> read_fixture_i64(const std::string& path, const std::string& name) {
  std::string raw = read_fixture_raw(path, name, "I64");
  std::vector<int64_t> out(raw.size() / 8);
  std::memcpy(out.data(), raw.data(), out.size() * 8);
  return out;
}

}  // namespace kaito::testing
