// YAML/JSON decoding (scalar resolution, multi-document, line/column errors, limits) and YAML
// encoding round trips.
#include "protocol/api/yaml.h"

#include <gtest/gtest.h>

namespace kaito::api {
namespace {

TEST(YamlDecode, ResolvesScalarsLikeKubernetes) {
  auto r = decode_yaml(
      "a: 1\nb: -7\nc: 0x1f\nd: 1.5\ne: true\nf: no\ng: ~\nh:\ni: \"1\"\nj: '0.5'\nk: hello\n"
      "l: !!str 42\nm: 1e3\nn: 12345678901234567890\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const json& j = *r;
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], -7);
  EXPECT_EQ(j["c"], 31);
  EXPECT_DOUBLE_EQ(j["d"].get<double>(), 1.5);
  EXPECT_EQ(j["e"], true);
  EXPECT_EQ(j["f"], false);  // YAML 1.1 boolean, as go-yaml v2 reads it
  EXPECT_TRUE(j["g"].is_null());
  EXPECT_TRUE(j["h"].is_null());
  EXPECT_EQ(j["i"], "1");
  EXPECT_EQ(j["j"], "0.5");
  EXPECT_EQ(j["k"], "hello");
  EXPECT_EQ(j["l"], "42");
  EXPECT_DOUBLE_EQ(j["m"].get<double>(), 1000.0);
  EXPECT_TRUE(j["n"].is_number_unsigned());
}

TEST(YamlDecode, MultiDocumentSkipsEmptyDocuments) {
  auto r = decode_yaml_documents("---\na: 1\n---\n---\nb: [x, z]\n...\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1]["b"][1], "z");
  EXPECT_FALSE(decode_yaml("a: 1\n---\nb: 2\n").ok());
  EXPECT_FALSE(decode_yaml("").ok());
}

TEST(YamlDecode, ErrorsCarryLineAndColumn) {
  // An unterminated flow sequence: yaml-cpp reports where it gave up.
  auto r = decode_yaml("a: 1\nb:\n  c: [1, 2\n  d: 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::invalid_argument);
  EXPECT_EQ(r.error().where().rfind("line ", 0), 0u) << r.error().where();
  EXPECT_NE(r.error().to_string().find(", column "), std::string::npos);

  auto dup = decode_yaml("a: 1\nb: 2\n  \nb: 3\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().to_string(), "line 4, column 1: mapping key \"b\" already defined");

  auto bad_indent = decode_yaml("metadata:\n  name: x\n bad: y\n");
  ASSERT_FALSE(bad_indent.ok());
  EXPECT_EQ(bad_indent.error().where(), "line 3, column 2");

  auto tag = decode_yaml("a: !!int abc\n");
  ASSERT_FALSE(tag.ok());
  EXPECT_EQ(tag.error().to_string(), "line 1, column 4: cannot decode !!str `abc` as a !!int");
}

TEST(YamlDecode, StrayFlowEntryTerminates) {
  // yaml-cpp 0.7 loops forever on a ',' in block context (found by yaml_decode_fuzz); the event
  // budget turns that into an error.
  for (const char* text : {",", " ,\n", ",--,\t b]c\n"}) {
    auto r = decode_yaml_documents(text);
    EXPECT_FALSE(r.ok()) << text;
  }
}

TEST(JsonDecode, ErrorsCarryLineAndColumn) {
  auto r = decode_json("{\n  \"a\": 1,\n  \"b\": ]\n}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "line 3, column 8");
  EXPECT_NE(r.error().message().find("syntax error"), std::string::npos) << r.error().message();
  auto ok = decode_documents("  {\"a\": [1, 2]}");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0]["a"][1], 2);
}

TEST(Decode, DeepNestingAndAliasBombsAreRefused) {
  std::string deep_json(100000, '[');
  auto j = decode_json(deep_json);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message().find("max depth"), std::string::npos);

  std::string deep_yaml(1500, '[');
  EXPECT_FALSE(decode_yaml(deep_yaml).ok());

  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c, ++prev)
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
  auto b = decode_yaml(bomb);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("document too large"), std::string::npos);
}

TEST(YamlEncode, QuotesWhatWouldResolveDifferentlyAndRoundTrips) {
  json j = {{"name", "plain-value"},
            {"num_str", "1.0"},
            {"bool_str", "yes"},
            {"null_str", "~"},
            {"empty", ""},
            {"colon", "a: b"},
            {"multi", "line1\nline2"},
            {"int", 42},
            {"float", 0.5},
            {"list", {1, "two", {{"k", "v"}, {"k2", nullptr}}}},
            {"nested", {{"deep", {{"x", json::array()}, {"y", json::object()}}}}},
            {"unicode", "na\xC3\xAFve"},
            {"lead-dash", "-x"},
            {"hash", "a #b"}};
  std::string y = encode_yaml(j);
  EXPECT_NE(y.find("name: plain-value\n"), std::string::npos) << y;
  EXPECT_NE(y.find("num_str: \"1.0\"\n"), std::string::npos) << y;
  EXPECT_NE(y.find("bool_str: \"yes\"\n"), std::string::npos) << y;
  auto back = decode_yaml(y);
  ASSERT_TRUE(back.ok()) << back.error().to_string() << "\n" << y;
  EXPECT_EQ(*back, j) << y;

  auto docs = decode_yaml_documents(encode_yaml_documents({json{{"a", 1}}, json{{"b", 2}}}));
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 2u);
}

}  // namespace
}  // namespace kaito::api
