// safetensors writer and dtype conversions of tensor bytes. See safetensors.h.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "kernels/dtype.h"

namespace kaito::engine {

namespace {
template <class T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the engine only targets little-endian hosts
  return v;
}
}  // namespace

result<std::vector<float>> st_to_f32(const st_tensor_info& t, std::span<const uint8_t> bytes) {
  const int64_t n = t.numel();
  if (bytes.size() != static_cast<size_t>(n) * st_dtype_size(t.dtype))
    return invalid_argument("tensor '" + t.name + "': byte count does not match its shape");
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* p = bytes.data();
  switch (t.dtype) {
    case st_dtype::f32:
      if (n > 0) std::memcpy(out.data(), p, bytes.size());
      break;
    case st_dtype::f64:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(load_le<double>(p + 8 * i));
      break;
    case st_dtype::bf16:
      for (int64_t i = 0; i < n; ++i)
        out[i] = kaito::bf16_to_f32(kaito::bf16{load_le<uint16_t>(p + 2 * i)});
      break;
    case st_dtype::f16:
      for (int64_t i = 0; i < n; ++i)
        out[i] = kaito::f16_to_f32(kaito::f16{load_le<uint16_t>(p + 2 * i)});
      break;
    default:
      return invalid_argument("tensor '" + t.name + "' has dtype " + st_dtype_name(t.dtype) +
                              ", expected a float dtype");
  }
  return out;
}

result<std::vector<int64_t>> st_to_i64(const st_tensor_info& t, std::span<const uint8_t> bytes) {
  const int64_t n = t.numel();
  if (bytes.size() != static_cast<size_t>(n) * st_dtype_size(t.dtype))
    return invalid_argument("tensor '" + t.name + "': byte count does not match its shape");
  std::vector<int64_t> out(static_cast<size_t>(n));
  const uint8_t* p = bytes.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case st_dtype::u8:
      case st_dtype::boolean:
        out[i] = p[i];
        break;
      case st_dtype::i8:
        out[i] = static_cast<int8_t>(p[i]);
        break;
      case st_dtype::i16:
        out[i] = load_le<int16_t>(p + 2 * i);
        break;
      case st_dtype::u16:
        out[i] = load_le<uint16_t>(p + 2 * i);
        break;
      case st_dtype::i32:
        out[i] = load_le<int32_t>(p + 4 * i);
        break;
      case st_dtype::u32:
        out[i] = load_le<uint32_t>(p + 4 * i);
        break;
      case st_dtype::i64:
        out[i] = load_le<int64_t>(p + 8 * i);
        break;
      case st_dtype::u64:
        out[i] = static_cast<int64_t>(load_le<uint64_t>(p + 8 * i));
        break;
      default:
        return invalid_argument("tensor '" + t.name + "' has dtype " + st_dtype_name(t.dtype) +
                                ", expected an integer dtype");
    }
  }
  return out;
}

result<std::vector<uint8_t>> serialize_safetensors(const std::vector<st_write_entry>& entries,
                                                   const std::map<std::string, std::string>& meta) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!meta.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : meta) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string where = "entries[" + std::to_string(i) + "]";
    if (e.name.empty() || e.name == "__metadata__")
      return invalid_argument("invalid tensor name '" + e.name + "'", where);
    if (!names.insert(e.name).second)
      return invalid_argument("duplicate tensor name '" + e.name + "'", where);
    uint64_t n = 1;
    for (int64_t d : e.shape) {
      if (d < 0) return invalid_argument("negative dimension in '" + e.name + "'", where);
      n *= static_cast<uint64_t>(d);
    }
    if (e.data.size() != n * st_dtype_size(e.dtype))
      return invalid_argument("tensor '" + e.name + "' has " + std::to_string(e.data.size()) +
                                  " bytes, shape needs " +
                                  std::to_string(n * st_dtype_size(e.dtype)),
                              where);
    h[e.name] = {{"dtype", st_dtype_name(e.dtype)},
                 {"shape", e.shape},
                 {"data_offsets", {offset, offset + e.data.size()}}};
    offset += e.data.size();
  }
  std::string text = h.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  std::vector<uint8_t> out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& e : entries) out.insert(out.end(), e.data.begin(), e.data.end());
  return out;
}

status write_safetensors(const std::string& path, const std::vector<st_write_entry>& entries,
                         const std::map<std::string, std::string>& meta) {
  KAITO_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, serialize_safetensors(entries, meta));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return io_error("cannot create file", tmp);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    if (!f) return io_error("short write", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return io_error("cannot rename: " + ec.message(), path);
  return {};
}

st_write_entry st_f32_entry(std::string name, std::vector<int64_t> shape,
                            std::span<const float> values) {
  return st_write_entry{std::move(name), st_dtype::f32, std::move(shape),
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()),
                                                 values.size() * sizeof(float))};
}

}  // namespace kaito::engine
