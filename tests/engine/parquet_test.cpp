// parquet_test: engine/parquet_*.h against pyarrow (the writer Hugging Face datasets uses):
// every variant parquet_peer.py writes (snappy / zstd / gzip / none; dictionary, PLAIN and the
// three DELTA encodings; data pages v1 and v2; small pages and several row groups; nulls, empty
// lists, lists of lists, structs, maps) must read back as pyarrow's to_pylist(). Plus the decoders
// on hand-made bytes, the checked-in file (no Python needed), and damaged files: every prefix and
// many single-byte changes end in an error or a result, never a crash or a hang.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat_dataset.h"
#include "engine/parquet_column.h"
#include "engine/parquet_metadata.h"
#include "engine/parquet_rows.h"
#include "engine/thrift_compact.h"

namespace kaito::engine {
namespace {

using json = nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Compared unordered (json, not ordered_json): pyarrow and we agree on values, and key order
// follows the schema in both, but equality should not hinge on it.
json rows_json(const std::vector<nlohmann::ordered_json>& rows) {
  json a = json::array();
  for (const auto& r : rows) a.push_back(json::parse(r.dump()));
  return a;
}

const std::string kData = std::string(KAITO_SOURCE_DIR) + "/tests/data/parquet/";

TEST(Parquet, ReadsTheCheckedInChatFile) {
  const std::string file = read_file(kData + "chat4.parquet");
  auto md = parquet_read_metadata(file);
  ASSERT_TRUE(md.ok()) << md.error().to_string();
  EXPECT_EQ(md->num_rows, 4);
  EXPECT_EQ(md->columns(), (std::vector<std::string>{"messages", "id", "category"}));
  ASSERT_EQ(md->leaves.size(), 4u);
  EXPECT_EQ(md->leaves[0].dotted, "messages.list.element.content");
  EXPECT_EQ(md->leaves[0].max_def, 4);
  EXPECT_EQ(md->leaves[0].max_rep, 1);
  auto rows = parquet_read_rows(file);
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  EXPECT_EQ(rows_json(*rows), json::parse(read_file(kData + "chat4.json")));
  auto only = parquet_read_rows(file, {"messages"});
  ASSERT_TRUE(only.ok());
  EXPECT_FALSE((*only)[0].contains("id"));
  auto recs = parse_chat_parquet(file);
  ASSERT_TRUE(recs.ok()) << recs.error().to_string();
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ((*recs)[0].messages.size(), 3u);  // row 0 has the system turn
  EXPECT_EQ((*recs)[1].messages[1]["content"], "answer 1 é✓");
  EXPECT_EQ((*recs)[1].line, 2);
  EXPECT_TRUE((*recs)[1].parquet_row);
}

TEST(Parquet, NamesAMissingColumn) {
  auto r = parquet_read_rows(read_file(kData + "chat4.parquet"), {"conversations"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("no column \"conversations\""), std::string::npos);
  EXPECT_NE(r.error().message().find("messages, id, category"), std::string::npos);
}

TEST(Parquet, RefusesNonParquet) {
  auto r = parquet_read_rows("{\"messages\": []}\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "byte 0");
  std::string file = read_file(kData + "chat4.parquet");
  file[file.size() - 5] = char(0x7f);  // the footer length's high byte: past the file
  r = parquet_read_rows(file);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("footer length"), std::string::npos);
}

TEST(Parquet, DamagedFilesEndInErrors) {
  const std::string file = read_file(kData + "chat4.parquet");
  for (size_t n = 0; n < file.size(); ++n) {
    auto r = parquet_read_rows(std::string_view(file).substr(0, n));
    EXPECT_FALSE(r.ok()) << "a " << n << "-byte prefix read as a whole file";
  }
  parquet_read_limits small;
  small.max_page_bytes = 1 << 20;
  small.max_entries = 1 << 16;
  small.max_value_bytes = 1 << 22;
  int errors = 0;
  for (size_t i = 0; i < file.size(); ++i)
    for (unsigned char v : {0x00, 0xff, 0x15}) {
      std::string bad = file;
      if (bad[i] == char(v)) continue;
      bad[i] = char(v);
      auto r = parquet_read_rows(bad, {}, small);  // must return, either way
      errors += r.ok() ? 0 : 1;
      if (!r.ok()) {
        EXPECT_FALSE(r.error().where().empty()) << r.error().to_string();
      }
    }
  EXPECT_GT(errors, int(file.size()));  // most changes are caught
}

TEST(Parquet, RleHybrid) {
  // RLE run of 5 x 3 (width 2: one value byte), then one bit-packed group of 8 values 0..7
  // (width 3: 3 bytes), read 13 of them.
  const std::string in = std::string("\x0a\x03", 2) + std::string("\x03\x88\xc6\xfa", 4);
  std::vector<uint32_t> out;
  auto r = parquet_rle_decode(in, 3, 13, &out);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, in.size());
  EXPECT_EQ(out, (std::vector<uint32_t>{3, 3, 3, 3, 3, 0, 1, 2, 3, 4, 5, 6, 7}));
  out.clear();
  EXPECT_FALSE(parquet_rle_decode(std::string("\x00", 1), 1, 1, &out).ok());      // empty run
  EXPECT_FALSE(parquet_rle_decode(std::string("\x0a", 1), 8, 5, &out).ok());      // no value byte
  EXPECT_FALSE(parquet_rle_decode(std::string("\x03\x01", 2), 3, 8, &out).ok());  // short group
}

TEST(Parquet, DeltaBinaryPacked) {
  // parquet-format's Encodings.md example 1: 1 2 3 4 5 -> block 128, 4 miniblocks, 5 values,
  // first 1; min delta 1, widths 0 0 0 0: no miniblock bytes.
  const std::string ex1("\x80\x01\x04\x05\x02\x02\x00\x00\x00\x00", 10);
  std::vector<int64_t> out;
  auto r = parquet_delta_decode(ex1, 5, &out, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, ex1.size());
  EXPECT_EQ(out, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  out.clear();
  EXPECT_FALSE(parquet_delta_decode(ex1, 6, &out, 1 << 20).ok());  // count disagrees
  EXPECT_FALSE(parquet_delta_decode(std::string("\x81\x01\x04\x05\x02", 5), 5, &out, 99).ok());
}

TEST(Parquet, ThriftCompact) {
  // struct { 1: i32 = -3, 2: binary "ab", 5: list<i32> [1, 2], 20 (long id): bool true } STOP
  const std::string in(
      "\x15\x05\x18\x02"
      "ab"
      "\x39\x25\x02\x04"
      "\x01\x28"
      "\x00",
      13);
  thrift_reader r(in, 100);
  ASSERT_TRUE(r.begin_struct().ok());
  thrift_field f;
  ASSERT_TRUE(r.next_field(&f).value());
  EXPECT_EQ(f.id, 1);
  EXPECT_EQ(r.read_int(f.type).value(), -3);
  ASSERT_TRUE(r.next_field(&f).value());
  EXPECT_EQ(f.id, 2);
  EXPECT_EQ(r.read_binary().value(), "ab");
  ASSERT_TRUE(r.next_field(&f).value());
  EXPECT_EQ(f.id, 5);
  ASSERT_TRUE(r.skip(f.type).ok());
  ASSERT_TRUE(r.next_field(&f).value());
  EXPECT_EQ(f.id, 20);
  EXPECT_TRUE(r.read_bool(f.type).value());
  EXPECT_FALSE(r.next_field(&f).value());
  // truncated binary names its byte (base 100 + offset 3)
  thrift_reader t(std::string_view(in).substr(0, 5), 100);
  ASSERT_TRUE(t.begin_struct().ok());
  ASSERT_TRUE(t.next_field(&f).value());
  ASSERT_TRUE(t.read_int(f.type).ok());
  ASSERT_TRUE(t.next_field(&f).value());
  auto b = t.read_binary();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().where(), "byte 103");
  // structs nested past the limit are refused, not recursed into
  std::string nest;
  for (int i = 0; i < 100; ++i) nest += "\x1c";  // field id +1, type struct, repeatedly
  thrift_reader d(nest, 0);
  ASSERT_TRUE(d.begin_struct().ok());
  ASSERT_TRUE(d.next_field(&f).value());
  EXPECT_FALSE(d.skip(f.type).ok());
}

// The live comparison with pyarrow.
TEST(Parquet, MatchesPyarrow) {
  const std::string out = std::string(KAITO_BINARY_DIR) + "/tests/engine/parquet_peer";
  const std::string cmd =
      "python3 " + std::string(KAITO_SOURCE_DIR) + "/tests/engine/parquet_peer.py " + out;
  const int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1) << "cannot run python3";
  ASSERT_NE(WEXITSTATUS(rc), 2) << "the Python package 'pyarrow' (the live peer) is missing: run "
                                   "./setup.sh";
  ASSERT_EQ(WEXITSTATUS(rc), 0) << "parquet_peer.py failed: " << cmd;
  const json peer = json::parse(read_file(out + "/parquet_peer.json"));
  ASSERT_GE(peer["variants"].size(), 11u);
  for (const json& v : peer["variants"]) {
    const std::string name = v["name"];
    SCOPED_TRACE(name);
    const std::string file = read_file(out + "/" + name + ".parquet");
    auto rows = parquet_read_rows(file);
    ASSERT_TRUE(rows.ok()) << rows.error().to_string();
    EXPECT_EQ(rows_json(*rows), v["rows"]);
    if (name.rfind("chat", 0) == 0) {
      auto recs = parse_chat_parquet(file);
      ASSERT_TRUE(recs.ok()) << recs.error().to_string();
      ASSERT_EQ(recs->size(), v["rows"].size());
      for (size_t i = 0; i < recs->size(); ++i)
        ASSERT_EQ(json::parse((*recs)[i].messages.dump()), v["rows"][i]["messages"]);
    }
  }
}

TEST(Parquet, ChatRecordsNameTheRow) {
  const std::string out = std::string(KAITO_BINARY_DIR) + "/tests/engine/parquet_peer";
  const std::string file = read_file(out + "/nulls.parquet");
  if (file.empty()) GTEST_SKIP() << "MatchesPyarrow writes the file";
  auto recs = parse_chat_parquet(file);  // row 0: messages[1].content is null
  ASSERT_FALSE(recs.ok());
  EXPECT_EQ(recs.error().where(), "row 0: messages[1].content");
}

}  // namespace
}  // namespace kaito::engine
