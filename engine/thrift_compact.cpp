// Thrift compact protocol reader (see thrift_compact.h).
#include "engine/thrift_compact.h"

#include <cstring>

namespace kaito::engine {

namespace {

constexpr int kMaxDepth = 64;

int64_t unzigzag(uint64_t v) {
  return int64_t(v >> 1) ^ -int64_t(v & 1);
}

bool valid_type(uint8_t t) {
  return t <= uint8_t(thrift_type::structure);
}

}  // namespace

status thrift_reader::error(const std::string& msg) const {
  return invalid_argument(msg, "byte " + std::to_string(offset()));
}

status thrift_expect(const thrift_reader& r, const thrift_field& f, thrift_type want,
                     const char* name) {
  const bool is_bool = f.type == thrift_type::bool_true || f.type == thrift_type::bool_false;
  const bool want_bool = want == thrift_type::bool_true || want == thrift_type::bool_false;
  if (f.type == want || (is_bool && want_bool)) return {};
  return r.error(std::string("field ") + name + " (id " + std::to_string(f.id) +
                 ") has Thrift type " + std::to_string(int(f.type)) + ", expected " +
                 std::to_string(int(want)));
}

result<uint8_t> thrift_reader::byte() {
  if (pos_ >= data_.size()) return error("truncated: the data ends inside a Thrift value");
  return uint8_t(data_[pos_++]);
}

result<uint64_t> thrift_reader::varint() {
  const uint64_t at = offset();
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos_ >= data_.size())
      return invalid_argument("truncated varint", "byte " + std::to_string(at));
    const uint8_t b = uint8_t(data_[pos_++]);
    if (shift == 63 && (b & 0x7e) != 0)
      return invalid_argument("varint overflows 64 bits", "byte " + std::to_string(at));
    v |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  return invalid_argument("varint longer than 10 bytes", "byte " + std::to_string(at));
}

status thrift_reader::begin_struct() {
  if (last_id_.size() >= size_t(kMaxDepth)) return error("Thrift structs nested too deeply");
  last_id_.push_back(0);
  return {};
}

void thrift_reader::end_struct() {
  if (!last_id_.empty()) last_id_.pop_back();
}

result<bool> thrift_reader::next_field(thrift_field* f) {
  if (last_id_.empty()) return error("next_field outside a struct");
  const uint64_t at = offset();
  KAITO_ASSIGN_OR_RETURN(uint8_t h, byte());
  if (h == 0) return false;
  const uint8_t type = h & 0x0f, delta = h >> 4;
  if (!valid_type(type) || type == 0)
    return invalid_argument("unknown Thrift field type " + std::to_string(type),
                            "byte " + std::to_string(at));
  int64_t id = 0;
  if (delta == 0) {
    KAITO_ASSIGN_OR_RETURN(uint64_t z, varint());
    id = unzigzag(z);
  } else {
    id = int64_t(last_id_.back()) + delta;
  }
  if (id < INT16_MIN || id > INT16_MAX)
    return invalid_argument("field id " + std::to_string(id) + " out of range",
                            "byte " + std::to_string(at));
  last_id_.back() = int16_t(id);
  f->id = int16_t(id);
  f->type = thrift_type(type);
  return true;
}

result<int64_t> thrift_reader::read_int(thrift_type t, int64_t lo, int64_t hi) {
  const uint64_t at = offset();
  int64_t v = 0;
  if (t == thrift_type::i8) {
    KAITO_ASSIGN_OR_RETURN(uint8_t b, byte());
    v = int8_t(b);
  } else if (t == thrift_type::i16 || t == thrift_type::i32 || t == thrift_type::i64) {
    KAITO_ASSIGN_OR_RETURN(uint64_t z, varint());
    v = unzigzag(z);
  } else {
    return error("expected an integer, found Thrift type " + std::to_string(int(t)));
  }
  if (v < lo || v > hi)
    return invalid_argument("value " + std::to_string(v) + " outside [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]",
                            "byte " + std::to_string(at));
  return v;
}

result<bool> thrift_reader::read_bool(thrift_type t, bool list_element) {
  if (list_element) {
    KAITO_ASSIGN_OR_RETURN(uint8_t b, byte());
    return b == 1;
  }
  if (t == thrift_type::bool_true) return true;
  if (t == thrift_type::bool_false) return false;
  return error("expected a bool, found Thrift type " + std::to_string(int(t)));
}

result<std::string_view> thrift_reader::read_binary() {
  const uint64_t at = offset();
  KAITO_ASSIGN_OR_RETURN(uint64_t n, varint());
  if (n > data_.size() - pos_)
    return invalid_argument("binary of " + std::to_string(n) + " bytes runs past the end (" +
                                std::to_string(data_.size() - pos_) + " left)",
                            "byte " + std::to_string(at));
  std::string_view s = data_.substr(pos_, size_t(n));
  pos_ += size_t(n);
  return s;
}

result<thrift_list> thrift_reader::read_list() {
  const uint64_t at = offset();
  KAITO_ASSIGN_OR_RETURN(uint8_t h, byte());
  thrift_list l;
  const uint8_t elem = h & 0x0f;
  if (!valid_type(elem) || elem == 0)
    return invalid_argument("unknown Thrift list element type " + std::to_string(elem),
                            "byte " + std::to_string(at));
  // inside lists, bools are bytes of either type id
  l.elem = elem == uint8_t(thrift_type::bool_false) ? thrift_type::bool_true : thrift_type(elem);
  uint64_t n = h >> 4;
  if (n == 15) {
    KAITO_ASSIGN_OR_RETURN(n, varint());
  }
  if (n > data_.size() - pos_)
    return invalid_argument("list of " + std::to_string(n) + " elements cannot fit in the " +
                                std::to_string(data_.size() - pos_) + " bytes left",
                            "byte " + std::to_string(at));
  l.size = int64_t(n);
  return l;
}

status thrift_reader::skip(thrift_type t) {
  return skip_depth(t, int(last_id_.size()));
}

status thrift_reader::skip_depth(thrift_type t, int depth) {
  if (depth >= kMaxDepth) return error("Thrift values nested too deeply");
  switch (t) {
    case thrift_type::bool_true:
    case thrift_type::bool_false:
      return {};  // a field's bool is in its header
    case thrift_type::i8:
      return byte().take_status();
    case thrift_type::i16:
    case thrift_type::i32:
    case thrift_type::i64:
      return varint().take_status();
    case thrift_type::dbl:
      if (data_.size() - pos_ < 8) return error("truncated double");
      pos_ += 8;
      return {};
    case thrift_type::binary:
      return read_binary().take_status();
    case thrift_type::list:
    case thrift_type::set: {
      KAITO_ASSIGN_OR_RETURN(thrift_list l, read_list());
      for (int64_t i = 0; i < l.size; ++i) {
        if (l.elem == thrift_type::bool_true) {
          KAITO_TRY(byte());
        } else {
          KAITO_TRY(skip_depth(l.elem, depth + 1));
        }
      }
      return {};
    }
    case thrift_type::map: {
      KAITO_ASSIGN_OR_RETURN(uint64_t n, varint());
      if (n == 0) return {};
      if (n > data_.size() - pos_) return error("map larger than the bytes left");
      KAITO_ASSIGN_OR_RETURN(uint8_t kv, byte());
      const uint8_t kt = kv >> 4, vt = kv & 0x0f;
      if (!valid_type(kt) || !valid_type(vt) || kt == 0 || vt == 0)
        return error("unknown Thrift map key/value type");
      for (uint64_t i = 0; i < n; ++i) {
        for (uint8_t et : {kt, vt}) {
          if (et == uint8_t(thrift_type::bool_true) || et == uint8_t(thrift_type::bool_false)) {
            KAITO_TRY(byte());
          } else {
            KAITO_TRY(skip_depth(thrift_type(et), depth + 1));
          }
        }
      }
      return {};
    }
    case thrift_type::structure: {
      if (depth + 1 >= kMaxDepth) return error("Thrift structs nested too deeply");
      KAITO_TRY(begin_struct());
      thrift_field f;
      while (true) {
        KAITO_ASSIGN_OR_RETURN(bool more, next_field(&f));
        if (!more) break;
        KAITO_TRY(skip_depth(f.type, depth + 1));
      }
      end_struct();
      return {};
    }
    case thrift_type::stop:
      break;
  }
  return error("cannot skip Thrift type " + std::to_string(int(t)));
}

status thrift_read_struct(thrift_reader& r, const thrift_field_fn& on_field) {
  KAITO_TRY(r.begin_struct());
  thrift_field f;
  while (true) {
    KAITO_ASSIGN_OR_RETURN(bool more, r.next_field(&f));
    if (!more) break;
    KAITO_ASSIGN_OR_RETURN(bool used, on_field(f));
    if (!used) KAITO_TRY(r.skip(f.type));
  }
  r.end_struct();
  return {};
}

result<int32_t> thrift_i32(thrift_reader& r, const thrift_field& f, const char* name, int64_t lo,
                           int64_t hi) {
  KAITO_TRY(thrift_expect(r, f, thrift_type::i32, name));
  KAITO_ASSIGN_OR_RETURN(int64_t v, r.read_int(f.type, lo, hi));
  return int32_t(v);
}

result<int64_t> thrift_i64(thrift_reader& r, const thrift_field& f, const char* name, int64_t lo) {
  KAITO_TRY(thrift_expect(r, f, thrift_type::i64, name));
  return r.read_int(f.type, lo);
}

result<std::string> thrift_string(thrift_reader& r, const thrift_field& f, const char* name) {
  KAITO_TRY(thrift_expect(r, f, thrift_type::binary, name));
  KAITO_ASSIGN_OR_RETURN(std::string_view s, r.read_binary());
  return std::string(s);
}

status thrift_struct_list(thrift_reader& r, const thrift_field& f, const char* name,
                          const std::function<status()>& each) {
  KAITO_TRY(thrift_expect(r, f, thrift_type::list, name));
  KAITO_ASSIGN_OR_RETURN(thrift_list l, r.read_list());
  if (l.elem != thrift_type::structure) return r.error(std::string(name) + ": not a struct list");
  for (int64_t i = 0; i < l.size; ++i) KAITO_TRY(each());
  return {};
}

}  // namespace kaito::engine
