// safetensors: a validating reader (mmap, zero-copy views) and a writer for the Hugging Face
// safetensors format.
//
// Format (huggingface/safetensors README "Format", src/tensor.rs): an 8-byte little-endian u64 N,
// then N bytes of UTF-8 JSON starting with `{` (space padded, N <= 100,000,000), then the data
// region. The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end)} with
// offsets relative to the start of the data region, plus an optional "__metadata__" object of
// string values. Validation (every failure is invalid_argument or data_loss with `where` set to
// "byte <offset>" in the file): header length in range, JSON well formed (nesting depth <= 4),
// known dtype, non-negative shape, begin <= end, end - begin == product(shape) * dtype size (no
// overflow), tensors non-overlapping and covering the data region exactly, no duplicate names.
//
// Thread-safety: a safetensors_file is immutable after open(); concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

enum class st_dtype { f32, f16, bf16, f64, u8, i8, i16, u16, i32, u32, i64, u64, boolean };

// Bytes per element (1, 2, 4 or 8).
size_t st_dtype_size(st_dtype t);
// The header spelling: "F32", "BF16", "BOOL", ...
const char* st_dtype_name(st_dtype t);
// invalid_argument for any other spelling (including the F8/F4/F6/complex types).
result<st_dtype> parse_st_dtype(std::string_view s);

struct st_tensor_info {
  std::string name;
  st_dtype dtype = st_dtype::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offset into the data region
  uint64_t end = 0;    // exclusive
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct st_header {
  std::vector<st_tensor_info> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // absolute file offset of the data region (8 + N)
};

// Validates a whole file image (`file` = all bytes of the file) and returns its header.
// Never reads outside `file`. The 100 MB header cap is enforced before any JSON work.
result<st_header> parse_safetensors(std::span<const uint8_t> file);

inline constexpr uint64_t k_safetensors_max_header = 100'000'000;

// A read-only memory-mapped safetensors file. Views returned by data() point into the mapping and
// stay valid while the safetensors_file (or a move of it) is alive. Move-only.
class safetensors_file {
 public:
  // io_error when the file cannot be opened or mapped; parse errors as parse_safetensors.
  static result<safetensors_file> open(const std::string& path);

  safetensors_file(safetensors_file&&) noexcept = default;
  safetensors_file& operator=(safetensors_file&&) noexcept = default;
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;
  ~safetensors_file() = default;

  const std::vector<st_tensor_info>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const std::string& path() const { return path_; }
  // nullptr when absent.
  const st_tensor_info* find(std::string_view name) const;
  // The tensor's raw little-endian bytes inside the mapping.
  std::span<const uint8_t> data(const st_tensor_info& t) const;

 private:
  struct mapping;
  safetensors_file() = default;
  std::string path_;
  std::shared_ptr<mapping> map_;
  st_header header_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Converts a F32/F16/BF16/F64 tensor's bytes to fp32 values (rounding F64 to nearest).
// invalid_argument for non-float dtypes.
result<std::vector<float>> st_to_f32(const st_tensor_info& t, std::span<const uint8_t> bytes);
// Converts an integer tensor (I8..U64, BOOL) to int64 values; invalid_argument for float dtypes.
result<std::vector<int64_t>> st_to_i64(const st_tensor_info& t, std::span<const uint8_t> bytes);

// One tensor to write: `data` must hold exactly product(shape) * dtype size bytes and stay live
// during the call.
struct st_write_entry {
  std::string name;
  st_dtype dtype = st_dtype::f32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

// Serializes to the file image (header space-padded to a multiple of 8, tensors in the given
// order). invalid_argument for duplicate/empty names, the reserved name "__metadata__" or a size
// mismatch.
result<std::vector<uint8_t>> serialize_safetensors(const std::vector<st_write_entry>& entries,
                                                   const std::map<std::string, std::string>& meta);
// serialize_safetensors + write to `path` (via a temporary file and rename); io_error on failure.
status write_safetensors(const std::string& path, const std::vector<st_write_entry>& entries,
                         const std::map<std::string, std::string>& meta = {});

// Helper: an fp32 entry viewing `values`.
st_write_entry st_f32_entry(std::string name, std::vector<int64_t> shape,
                            std::span<const float> values);

}  // namespace kaito::engine
