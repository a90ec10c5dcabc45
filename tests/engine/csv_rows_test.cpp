// csv_rows: RFC 4180 as Python's csv module writes it (the checked-in tests/data/sft/*.csv come
// from csv.writer): quoted fields with commas, quotes and line breaks, CRLF and LF, blank lines,
// a BOM; and every malformed file named by line.
#include "engine/csv_rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kaito::engine {
namespace {

using rows = std::vector<std::vector<std::string>>;

TEST(csv_rows, quoted_fields_line_ends_blank_lines_and_bom) {
  auto t = parse_csv(
      "\xEF\xBB\xBFprompt,completion\r\n"
      "\"a, b\",\" say \"\"hi\"\"\"\r\n"
      "\r\n"
      "\"two\nlines\",plain\n"
      "x\"y,\n"
      "\"\",last");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->header, (std::vector<std::string>{"prompt", "completion"}));
  EXPECT_EQ(t->rows,
            (rows{{"a, b", " say \"hi\""}, {"two\nlines", "plain"}, {"x\"y", ""}, {"", "last"}}));
  EXPECT_EQ(t->lines, (std::vector<int64_t>{2, 4, 6, 7}));
}

TEST(csv_rows, malformed_files_name_the_line) {
  struct row {
    const char* text;
    const char* where;
    const char* says;
  };
  for (const row& k : std::vector<row>{
           {"", "line 1", "no header"},
           {"\n\n", "line 1", "no header"},
           {"a,b\n1,2,3\n", "line 2", "3 fields, the header has 2"},
           {"a,b\n1\n", "line 2", "1 fields, the header has 2"},
           {"a,b\n1,\"open\n\nstill open", "line 2", "unterminated quoted field opened at byte 6"},
           {"a,b\n\"q\"x,2\n", "line 2", "text after a closing quote"},
           {"a,,b\n", "line 1", "an empty column name"},
           {"a,a\n", "line 1", "column \"a\" twice"},
       }) {
    auto t = parse_csv(k.text);
    ASSERT_FALSE(t.ok()) << k.text;
    EXPECT_EQ(t.error().where(), k.where) << k.text << " -> " << t.error().to_string();
    EXPECT_NE(t.error().message().find(k.says), std::string::npos)
        << k.text << " -> " << t.error().to_string();
  }
  EXPECT_FALSE(parse_csv("a\n" + std::string(10, ','), 4).ok());  // more fields than the cap
}

}  // namespace
}  // namespace kaito::engine
