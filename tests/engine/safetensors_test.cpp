// safetensors reader/writer: round trips, the shared fixtures, and one malformed file per rule.
#include "engine/safetensors.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace kaito::engine {
namespace {

// A file image: 8-byte length, `header` verbatim, then `data_bytes` zero bytes.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, int64_t len = -1) {
  std::vector<uint8_t> f;
  uint64_t n = len >= 0 ? uint64_t(len) : header.size();
  for (int i = 0; i < 8; ++i) f.push_back(uint8_t(n >> (8 * i)));
  f.insert(f.end(), header.begin(), header.end());
  f.resize(f.size() + data_bytes, 0);
  return f;
}

status parse_error(const std::string& header, size_t data_bytes) {
  auto f = make_file(header, data_bytes);
  return parse_safetensors(f).take_status();
}

TEST(safetensors, round_trip_in_memory_and_on_disk) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  std::vector<int64_t> ids = {3, -1, 1LL << 40};
  std::vector<st_write_entry> entries = {
      st_f32_entry("a.weight", {2, 3}, a),
      {"ids",
       st_dtype::i64,
       {3},
       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ids.data()), 24)},
      {"empty", st_dtype::bf16, {0, 4}, {}},
  };
  auto img = serialize_safetensors(entries, {{"format", "pt"}});
  ASSERT_TRUE(img.ok()) << img.error().to_string();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | img.value()[i];
  EXPECT_EQ(n % 8, 0u);

  std::string path = ::testing::TempDir() + "/st_round_trip_" + std::to_string(getpid());
  ASSERT_TRUE(write_safetensors(path, entries, {{"format", "pt"}}).ok());
  auto f = safetensors_file::open(path);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->tensors().size(), 3u);
  const st_tensor_info* t = f->find("a.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  auto vals = st_to_f32(*t, f->data(*t));
  ASSERT_TRUE(vals.ok());
  EXPECT_EQ(vals.value(), a);
  auto iv = st_to_i64(*f->find("ids"), f->data(*f->find("ids")));
  ASSERT_TRUE(iv.ok());
  EXPECT_EQ(iv.value(), ids);
  EXPECT_EQ(f->find("empty")->numel(), 0);
  EXPECT_EQ(f->find("missing"), nullptr);
  std::filesystem::remove(path);
}

TEST(safetensors, reads_the_shared_fixture) {
  auto f = safetensors_file::open(std::string(KAITO_SHARED_DIR) +
                                  "/fixtures/tiny-phi3/expected.safetensors");
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  const st_tensor_info* ids = f->find("input_ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype, st_dtype::i64);
  EXPECT_EQ(ids->shape, (std::vector<int64_t>{2, 24}));
  auto v = st_to_i64(*ids, f->data(*ids));
  ASSERT_TRUE(v.ok());
  // First tokens as numpy prints them for this file.
  EXPECT_EQ(v.value()[0], 370);
  EXPECT_EQ(v.value()[1], 278);
  EXPECT_EQ(v.value()[24], 261);
  auto m = safetensors_file::open(std::string(KAITO_SHARED_DIR) +
                                  "/fixtures/tiny-phi3/base/model.safetensors");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->find("model.layers.0.self_attn.qkv_proj.weight")->shape,
            (std::vector<int64_t>{192, 64}));
}

TEST(safetensors, converts_half_precision) {
  // bf16 0x3fc0 = 1.5, f16 0x3e00 = 1.5, f16 0x0001 = 2^-24 (subnormal), bf16 0xc000 = -2.
  std::vector<uint16_t> b = {0x3fc0, 0xc000};
  std::vector<uint16_t> h = {0x3e00, 0x0001};
  st_tensor_info tb{"b", st_dtype::bf16, {2}, 0, 4};
  st_tensor_info th{"h", st_dtype::f16, {2}, 0, 4};
  auto vb = st_to_f32(tb, std::span(reinterpret_cast<const uint8_t*>(b.data()), 4));
  auto vh = st_to_f32(th, std::span(reinterpret_cast<const uint8_t*>(h.data()), 4));
  ASSERT_TRUE(vb.ok() && vh.ok());
  EXPECT_EQ(vb.value(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(vh.value()[0], 1.5f);
  EXPECT_EQ(vh.value()[1], 5.9604644775390625e-08f);
  st_tensor_info ti{"i", st_dtype::i32, {1}, 0, 4};
  EXPECT_FALSE(st_to_f32(ti, std::span(reinterpret_cast<const uint8_t*>(b.data()), 4)).ok());
}

TEST(safetensors, rejects_short_and_oversized_headers) {
  std::vector<uint8_t> tiny = {1, 2, 3};
  auto s = parse_safetensors(tiny).take_status();
  EXPECT_EQ(s.code(), status_code::data_loss);
  EXPECT_EQ(s.where(), "byte 0");
  auto big = make_file("{}", 0, 100'000'001);
  s = parse_safetensors(big).take_status();
  EXPECT_NE(s.message().find("100000000"), std::string::npos) << s.to_string();
  auto past = make_file("{}", 0, 50);
  s = parse_safetensors(past).take_status();
  EXPECT_NE(s.message().find("past the end"), std::string::npos) << s.to_string();
  s = parse_error("[]", 0);
  EXPECT_EQ(s.where(), "byte 8");
}

TEST(safetensors, json_errors_name_the_byte) {
  auto s = parse_error(R"({"a": {"dtype": "F32",, }})", 0);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.where(), "byte 30") << s.to_string();  // 8 + index of the second ','
  s = parse_error(R"({"a":[[[[[1]]]]]})", 0);
  EXPECT_NE(s.message().find("nests deeper"), std::string::npos) << s.to_string();
}

TEST(safetensors, rejects_bad_tensor_entries) {
  struct row {
    const char* header;
    size_t data;
    const char* expect;
  } rows[] = {
      {R"({"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1, "unsupported dtype"},
      {R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "non-negative"},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "shape needs 12"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "end < begin"},
      {R"({"t":{"dtype":"F32","shape":[2]}})", 8, "data_offsets"},
      {R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})", 8,
       "overflow"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "overlap"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"u":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       12, "gap"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, "cover 4 data bytes"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 0, "cover 4 data bytes"},
      {R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, "duplicate"},
      {R"({"__metadata__":{"a":1}})", 0, "not a string"},
      {R"({"t":5})", 0, "not an object"},
  };
  for (const auto& r : rows) {
    auto s = parse_error(r.header, r.data);
    EXPECT_FALSE(s.ok()) << r.header;
    EXPECT_NE(s.message().find(r.expect), std::string::npos) << r.header << " -> " << s.to_string();
    EXPECT_EQ(s.where().rfind("byte ", 0), 0u) << s.to_string();
  }
  // The tensor-level errors point at the tensor's key in the header.
  auto s = parse_error(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  EXPECT_EQ(s.where(), "byte 9");
}

TEST(safetensors, writer_rejects_bad_entries) {
  std::vector<float> a = {1, 2};
  EXPECT_FALSE(serialize_safetensors({st_f32_entry("x", {3}, a)}, {}).ok());
  EXPECT_FALSE(
      serialize_safetensors({st_f32_entry("x", {2}, a), st_f32_entry("x", {2}, a)}, {}).ok());
  EXPECT_FALSE(serialize_safetensors({st_f32_entry("__metadata__", {2}, a)}, {}).ok());
  EXPECT_FALSE(safetensors_file::open("/nonexistent/file.safetensors").ok());
}

}  // namespace
}  // namespace kaito::engine
