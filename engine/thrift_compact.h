// thrift_compact: a reader of Apache Thrift's compact protocol, the encoding of Parquet's footer
// (FileMetaData) and page headers (engine/parquet_metadata.h). Reading only; the caller knows the
// schema and skips fields it does not use.
//
// Encoding (Thrift's doc/specs/thrift-compact-protocol.md):
//   struct   fields until a STOP byte (0). A field header byte is (delta << 4) | type, delta the
//            field id minus the previous one (1..15); delta 0 means a zigzag varint i16 id follows.
//            BOOL fields carry their value in the type (1 true, 2 false).
//   i8       one byte; i16, i32, i64: zigzag ULEB128 varints; double: 8 bytes little-endian
//   binary   varint length, then the bytes (strings are binary)
//   list/set header byte (size << 4) | element type, size 15 meaning a varint size follows; bool
//            elements are one byte each
//   map      varint size, then (size > 0) one byte (key type << 4) | value type
// Every read is bounds-checked; errors are invalid_argument with where = "byte N" (N counted from
// `base`, the data's offset in the file) naming the offending byte. Nesting deeper than 64 levels
// is refused, so a crafted footer cannot exhaust the stack.
// Thread-safety: a reader is a cursor over caller-owned bytes; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

enum class thrift_type : uint8_t {
  stop = 0,
  bool_true = 1,
  bool_false = 2,
  i8 = 3,
  i16 = 4,
  i32 = 5,
  i64 = 6,
  dbl = 7,
  binary = 8,
  list = 9,
  set = 10,
  map = 11,
  structure = 12,
};

struct thrift_field {
  int16_t id = 0;
  thrift_type type = thrift_type::stop;
};

struct thrift_list {
  thrift_type elem = thrift_type::stop;
  int64_t size = 0;
};

class thrift_reader {
 public:
  thrift_reader(std::string_view data, uint64_t base) : data_(data), base_(base) {}

  // Struct traversal: begin_struct(), then next_field() until it returns false (the STOP byte),
  // then end_struct(). Every field must be read or skip()ped before the next next_field().
  status begin_struct();
  result<bool> next_field(thrift_field* f);
  void end_struct();

  // Values of a field (or list element) of the given type. read_int takes i8/i16/i32/i64 and
  // checks the value fits [lo, hi]; read_bool takes a field's bool type or a list element byte.
  result<int64_t> read_int(thrift_type t, int64_t lo = INT64_MIN, int64_t hi = INT64_MAX);
  result<bool> read_bool(thrift_type t, bool list_element = false);
  result<std::string_view> read_binary();
  // A list or set header; the size is checked against the bytes left (each element takes >= 1).
  result<thrift_list> read_list();
  // Skips one value of type t (a whole struct, list or map included).
  status skip(thrift_type t);

  // The error for the value that starts at the current position.
  status error(const std::string& msg) const;
  uint64_t offset() const { return base_ + pos_; }
  size_t pos() const { return pos_; }

 private:
  result<uint64_t> varint();
  result<uint8_t> byte();
  status skip_depth(thrift_type t, int depth);

  std::string_view data_;
  uint64_t base_;
  size_t pos_ = 0;
  std::vector<int16_t> last_id_;  // per open struct: the previous field id
};

// ok when field f has type `want` (either bool type for a bool), else an error naming the field
// `name`, its id and the type it has.
status thrift_expect(const thrift_reader& r, const thrift_field& f, thrift_type want,
                     const char* name);

// Helpers for readers of Thrift structs (engine/parquet_metadata.cpp, parquet_page_header.cpp).
// The field callback reads the fields it knows and returns true; false means "not read": the
// field is skipped.
using thrift_field_fn = std::function<result<bool>(const thrift_field&)>;
// One struct, from its first field header to its STOP byte.
status thrift_read_struct(thrift_reader& r, const thrift_field_fn& on_field);
// A field's value that must be an i32 in [lo, hi], an i64 >= lo or a string; errors name the
// field `name`.
result<int32_t> thrift_i32(thrift_reader& r, const thrift_field& f, const char* name,
                           int64_t lo = 0, int64_t hi = INT32_MAX);
result<int64_t> thrift_i64(thrift_reader& r, const thrift_field& f, const char* name,
                           int64_t lo = 0);
result<std::string> thrift_string(thrift_reader& r, const thrift_field& f, const char* name);
// A field that must be a list of structs; `each` reads one element.
status thrift_struct_list(thrift_reader& r, const thrift_field& f, const char* name,
                          const std::function<status()>& each);

}  // namespace kaito::engine
