// csv_rows: a CSV file as Hugging Face's csv loader (pandas.read_csv) reads a dataset, RFC 4180:
// the first record is the header; fields are separated by ','; a field in double quotes may hold
// commas, line breaks and "" for one quote; records end at LF or CRLF; blank lines are skipped; a
// UTF-8 byte order mark at the start is dropped. A quote inside an unquoted field is kept as a
// character (as pandas does).
//
//   auto t = parse_csv("prompt,completion\n\"2+2=\",\" 4\"\n");
//   t->header == {"prompt", "completion"}, t->rows[0] == {"2+2=", " 4"}, t->lines[0] == 2
//
// Errors (invalid_argument, where = "line N", N the 1-based line a record starts on): a quoted
// field that never closes ("unterminated quoted field opened at byte B"), text after a closing
// quote, a record with more or fewer fields than the header, an empty or repeated header name, no
// header at all. Limits: at most max_fields fields a record.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

struct csv_table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each header.size() fields
  std::vector<int64_t> lines;                  // the line each row starts on (1-based)
};

result<csv_table> parse_csv(std::string_view text, size_t max_fields = 4096);

}  // namespace kaito::engine
