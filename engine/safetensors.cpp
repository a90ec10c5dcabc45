// safetensors header validation and the mmap reader. See safetensors.h for the rules.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace kaito::engine {

namespace {

struct dtype_row {
  st_dtype t;
  const char* name;
  size_t size;
};
constexpr dtype_row k_dtypes[] = {
    {st_dtype::f32, "F32", 4},      {st_dtype::f16, "F16", 2}, {st_dtype::bf16, "BF16", 2},
    {st_dtype::f64, "F64", 8},      {st_dtype::u8, "U8", 1},   {st_dtype::i8, "I8", 1},
    {st_dtype::i16, "I16", 2},      {st_dtype::u16, "U16", 2}, {st_dtype::i32, "I32", 4},
    {st_dtype::u32, "U32", 4},      {st_dtype::i64, "I64", 8}, {st_dtype::u64, "U64", 8},
    {st_dtype::boolean, "BOOL", 1},
};

std::string at_byte(uint64_t off) {
  return "byte " + std::to_string(off);
}

// Rejects nesting deeper than `max_depth` before the JSON parser sees the text (a safetensors
// header is at most root -> tensor -> shape, depth 3), so hostile inputs cannot build deep trees.
status check_depth(std::string_view text, uint64_t base, int max_depth) {
  int depth = 0;
  bool in_string = false, escape = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth)
        return invalid_argument("header JSON nests deeper than " + std::to_string(max_depth),
                                at_byte(base + i));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return {};
}

// Absolute offset of the first occurrence of "name" in the header (for error locations).
uint64_t key_offset(std::string_view header, const std::string& name) {
  std::string quoted = "\"" + name + "\"";
  size_t p = header.find(quoted);
  return 8 + (p == std::string_view::npos ? 0 : p);
}

status parse_tensor(const std::string& name, const nlohmann::json& v, uint64_t where,
                    st_tensor_info* out) {
  const std::string w = at_byte(where);
  if (!v.is_object()) return invalid_argument("tensor '" + name + "' is not an object", w);
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string())
    return invalid_argument("tensor '" + name + "': missing or non-string dtype", w);
  auto parsed = parse_st_dtype(dt->get_ref<const std::string&>());
  if (!parsed.ok())
    return invalid_argument("tensor '" + name + "': " + parsed.error().message(), w);
  out->name = name;
  out->dtype = parsed.value();
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array())
    return invalid_argument("tensor '" + name + "': missing or non-array shape", w);
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned())
      return invalid_argument("tensor '" + name + "': shape entries must be non-negative integers",
                              w);
    uint64_t x = d.get<uint64_t>();
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return invalid_argument("tensor '" + name + "': shape entry too large", w);
    out->shape.push_back(static_cast<int64_t>(x));
    if (x != 0 && numel > std::numeric_limits<uint64_t>::max() / x) overflow = true;
    numel *= x;
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    return invalid_argument("tensor '" + name + "': data_offsets must be [begin, end]", w);
  out->begin = (*off)[0].get<uint64_t>();
  out->end = (*off)[1].get<uint64_t>();
  if (out->end < out->begin)
    return invalid_argument("tensor '" + name + "': data_offsets end < begin", w);
  size_t es = st_dtype_size(out->dtype);
  bool any_zero = std::find(out->shape.begin(), out->shape.end(), 0) != out->shape.end();
  if (!any_zero && (overflow || numel > std::numeric_limits<uint64_t>::max() / es))
    return invalid_argument("tensor '" + name + "': shape size overflows", w);
  uint64_t want = any_zero ? 0 : numel * es;
  if (out->end - out->begin != want)
    return invalid_argument("tensor '" + name + "': data_offsets span " +
                                std::to_string(out->end - out->begin) + " bytes, shape needs " +
                                std::to_string(want),
                            w);
  return {};
}

}  // namespace

size_t st_dtype_size(st_dtype t) {
  for (const auto& r : k_dtypes)
    if (r.t == t) return r.size;
  return 1;
}

const char* st_dtype_name(st_dtype t) {
  for (const auto& r : k_dtypes)
    if (r.t == t) return r.name;
  return "?";
}

result<st_dtype> parse_st_dtype(std::string_view s) {
  for (const auto& r : k_dtypes)
    if (s == r.name) return r.t;
  return invalid_argument("unsupported dtype '" + std::string(s) + "'");
}

int64_t st_tensor_info::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

result<st_header> parse_safetensors(std::span<const uint8_t> file) {
  if (file.size() < 8)
    return data_loss(
        "file is " + std::to_string(file.size()) + " bytes, shorter than the 8-byte header length",
        at_byte(0));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
  if (n > k_safetensors_max_header)
    return invalid_argument("header length " + std::to_string(n) + " exceeds the 100000000 cap",
                            at_byte(0));
  if (n > file.size() - 8)
    return data_loss("header length " + std::to_string(n) + " runs past the end of the " +
                         std::to_string(file.size()) + "-byte file",
                     at_byte(0));
  std::string_view text(reinterpret_cast<const char*>(file.data()) + 8, n);
  if (text.empty() || text[0] != '{')
    return invalid_argument("header must start with '{'", at_byte(8));
  KAITO_TRY(check_depth(text, 8, 4));

  std::set<std::string> seen;
  std::string duplicate;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& p) {
    if (ev == nlohmann::json::parse_event_t::key && depth == 1 && p.is_string()) {
      if (!seen.insert(p.get<std::string>()).second && duplicate.empty())
        duplicate = p.get<std::string>();
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    return invalid_argument(std::string("header JSON: ") + e.what(),
                            at_byte(8 + (e.byte > 0 ? e.byte - 1 : 0)));
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: number overflow
    return invalid_argument(std::string("header JSON: ") + e.what(), at_byte(8));
  }
  if (!duplicate.empty())
    return invalid_argument("duplicate tensor name '" + duplicate + "'",
                            at_byte(key_offset(text, duplicate)));
  if (!j.is_object()) return invalid_argument("header is not a JSON object", at_byte(8));

  st_header h;
  h.data_start = 8 + n;
  const uint64_t data_size = file.size() - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    uint64_t where = key_offset(text, name);
    if (name == "__metadata__") {
      if (!it->is_object())
        return invalid_argument("__metadata__ is not an object", at_byte(where));
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          return invalid_argument("__metadata__ value '" + m.key() + "' is not a string",
                                  at_byte(where));
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    st_tensor_info t;
    KAITO_TRY(parse_tensor(name, *it, where, &t));
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const st_tensor_info& a, const st_tensor_info& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t expected = 0;
  for (const auto& t : h.tensors) {
    if (t.begin != expected)
      return invalid_argument("tensor '" + t.name + "' begins at data offset " +
                                  std::to_string(t.begin) + ", expected " +
                                  std::to_string(expected) +
                                  (t.begin < expected ? " (overlap)" : " (gap)"),
                              at_byte(key_offset(text, t.name)));
    expected = t.end;
  }
  if (expected != data_size)
    return data_loss("tensors cover " + std::to_string(expected) + " data bytes but the file has " +
                         std::to_string(data_size),
                     at_byte(h.data_start + std::min(expected, data_size)));
  return h;
}

struct safetensors_file::mapping {
  const uint8_t* base = nullptr;
  size_t size = 0;
  ~mapping() {
    if (base) munmap(const_cast<uint8_t*>(base), size);
  }
};

result<safetensors_file> safetensors_file::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open: " + std::string(std::strerror(errno)), path);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error("cannot stat: " + std::string(std::strerror(errno)), path);
  }
  auto m = std::make_shared<mapping>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size > 0) {
    void* p = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return io_error("cannot mmap: " + std::string(std::strerror(errno)), path);
    }
    m->base = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  auto h = parse_safetensors(std::span<const uint8_t>(m->base, m->size));
  if (!h.ok()) return h.error().with_context(path);
  safetensors_file f;
  f.path_ = path;
  f.map_ = std::move(m);
  f.header_ = std::move(h).value();
  for (size_t i = 0; i < f.header_.tensors.size(); ++i) f.index_[f.header_.tensors[i].name] = i;
  return f;
}

const st_tensor_info* safetensors_file::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const uint8_t> safetensors_file::data(const st_tensor_info& t) const {
  return std::span<const uint8_t>(map_->base + header_.data_start + t.begin, t.nbytes());
}

}  // namespace kaito::engine
