// json_schema + schema_matcher (engine/json_schema.h, engine/schema_matcher.h): schemas compile
// or are refused naming the keyword's path; texts a schema admits are accepted byte by byte and
// whole at their end, texts it does not are refused at the first byte that cannot continue;
// integer bounds exactly; no dead end on random walks (some byte always continues an unfinished
// text), and every text a walk finished is valid by the `jsonschema` package
// (json_schema_peer.py); the token filter on a small vocabulary.
#include "engine/json_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/json_prefix.h"
#include "engine/schema_matcher.h"
#include "engine/token_filter.h"

namespace kaito::engine {
namespace {

std::shared_ptr<const json_schema> compile(const std::string& text) {
  auto s = json_schema::parse(text, "schema");
  EXPECT_TRUE(s.ok()) << text << ": " << s.take_status().to_string();
  return s.ok() ? *s : nullptr;
}

// Every byte of `text` feeds and the whole is admitted.
void expect_admitted(const std::string& schema, const std::string& text) {
  auto s = compile(schema);
  ASSERT_TRUE(s);
  schema_matcher m(*s);
  for (size_t i = 0; i < text.size(); ++i)
    ASSERT_TRUE(m.feed(static_cast<unsigned char>(text[i])))
        << schema << "\n  " << text << " at byte " << i;
  EXPECT_TRUE(m.complete()) << schema << "\n  " << text;
}

// `text` feeds up to byte `at`, which is refused (at == size: it feeds but is not whole).
void expect_refused(const std::string& schema, const std::string& text, size_t at) {
  auto s = compile(schema);
  ASSERT_TRUE(s);
  schema_matcher m(*s);
  for (size_t i = 0; i < at; ++i)
    ASSERT_TRUE(m.feed(static_cast<unsigned char>(text[i])))
        << schema << "\n  " << text << " at byte " << i;
  if (at == text.size())
    EXPECT_FALSE(m.complete()) << schema << "\n  " << text;
  else
    EXPECT_FALSE(m.feed(static_cast<unsigned char>(text[at])))
        << schema << "\n  " << text << " at byte " << at;
}

const char* kPerson = R"({"type":"object","properties":{
  "name":{"type":"string","maxLength":8},
  "age":{"type":"integer","minimum":0,"maximum":150},
  "tags":{"type":"array","items":{"type":"string","enum":["a","b\"c","\u00e9"]},"maxItems":3},
  "email":{"anyOf":[{"type":"string"},{"type":"null"}]}},
  "required":["name","age"],"additionalProperties":false})";

TEST(JsonSchema, CompilesOrNamesTheKeyword) {
  struct refusal {
    const char* schema;
    status_code code;
    const char* where;
  };
  const auto bad = status_code::invalid_argument;
  const auto unimpl = status_code::unimplemented;
  const refusal cases[] = {
      {"[1]", bad, "schema"},
      {"false", bad, "schema"},
      {"{\"type\":\"text\"}", bad, "schema.type"},
      {"{\"type\":[\"string\",1]}", bad, "schema.type[1]"},
      {"{\"enum\":[]}", bad, "schema.enum"},
      {"{\"properties\":{\"a\":{\"pattern\":\"(?=x)\"}}}", unimpl,
       "schema.properties.a.pattern"},                            // a lookahead
      {"{\"pattern\":\"(a)\\\\1\"}", unimpl, "schema.pattern"},   // a backreference
      {"{\"pattern\":\"a$b\"}", unimpl, "schema.pattern"},        // '$' inside
      {"{\"pattern\":\"\\\\bx\"}", unimpl, "schema.pattern"},     // a word boundary
      {"{\"pattern\":\"^\\u00e9$\"}", unimpl, "schema.pattern"},  // no ASCII string matches
      {"{\"pattern\":\"[a-\"}", bad, "schema.pattern"},
      {"{\"pattern\":\"a{3,1}\"}", bad, "schema.pattern"},
      {"{\"pattern\":\"(ab\"}", bad, "schema.pattern"},
      {"{\"pattern\":\"*a\"}", bad, "schema.pattern"},
      {"{\"pattern\":5}", bad, "schema.pattern"},
      {"{\"type\":\"string\",\"pattern\":\"^a{5}$\",\"maxLength\":4}", unimpl, "schema.pattern"},
      {"{\"multipleOf\":2}", unimpl, "schema.multipleOf"},
      {"{\"type\":\"number\",\"exclusiveMinimum\":1,\"maximum\":1}", bad, "schema"},
      {"{\"minLength\":-1}", bad, "schema.minLength"},
      {"{\"maxItems\":1.5}", bad, "schema.maxItems"},
      {"{\"allOf\":[{},{}]}", unimpl, "schema.allOf"},
      {"{\"anyOf\":[{}],\"type\":\"object\"}", unimpl, "schema.type"},
      {"{\"$ref\":\"http://x/y\"}", unimpl, "schema.$ref"},
      {"{\"$ref\":\"#/$defs/missing\"}", bad, "schema.$ref"},
      {"{\"$ref\":\"#\"}", bad, "schema"},  // a cycle with no value in between
      {"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}", bad,
       "schema"},  // no finite value
      {"{\"required\":[\"x\"],\"additionalProperties\":false}", bad, "schema.required[0]"},
      {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", bad, "schema"},
      {"{\"type\":\"integer\",\"exclusiveMinimum\":1,\"exclusiveMaximum\":2}", bad, "schema"},
      {"{\"type\":\"array\",\"minItems\":1,\"items\":false}", bad, "schema"},
      {"{\"uniqueItems\":true}", unimpl, "schema.uniqueItems"},
      {"{\"not\":{}}", unimpl, "schema.not"},
  };
  for (const refusal& r : cases) {
    auto s = json_schema::parse(r.schema, "schema");
    ASSERT_FALSE(s.ok()) << r.schema;
    EXPECT_EQ(s.error().code(), r.code) << r.schema << ": " << s.error().to_string();
    EXPECT_EQ(s.error().where(), r.where) << r.schema << ": " << s.error().to_string();
  }
  EXPECT_FALSE(json_schema::parse("{\"type\":", "x").ok());
  // 65 properties: more than one object's key set holds
  std::string many = "{\"properties\":{";
  for (int i = 0; i < 65; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":{}";
  auto s = json_schema::parse(many + "}}", "schema");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().where(), "schema.properties");
  // annotations, unknown keywords and uniqueItems false are fine
  EXPECT_TRUE(json_schema::parse(R"({"title":"t","description":"d","format":"date-time",
    "x-vendor":1,"uniqueItems":false,"$schema":"https://json-schema.org/draft/2020-12/schema"})",
                                 "schema")
                  .ok());
}

TEST(JsonSchema, AdmitsWhatTheSchemaAdmits) {
  expect_admitted(kPerson, R"({"name":"Ann","age":42})");
  expect_admitted(kPerson, R"({ "age" : 0, "name": "12345678", "tags": ["b\"c", "é"] })");
  expect_admitted(kPerson, R"({"name":"","age":150,"email":null,"tags":[]})");
  expect_admitted(kPerson, R"({"email":"x@y","name":"\u00e9\ud83d\ude00","age":7})");
  expect_admitted(R"({"enum":[1,10,"x",[1,2],{"a":null}]})", "10");
  expect_admitted(R"({"enum":[1,10,"x",[1,2],{"a":null}]})", "1");
  expect_admitted(R"({"enum":[1,10,"x",[1,2],{"a":null}]})", R"({"a":null})");
  expect_admitted(R"({"type":"array","prefixItems":[{"type":"boolean"},{"type":"null"}],
                      "items":false})",
                  "[true,null]");
  expect_admitted(
      R"({"type":"array","items":[{"const":"a"}],"additionalItems":{"type":"integer"}})",
      R"(["a",1,-2])");
  expect_admitted(R"({"type":["string","integer","null"]})", "-0");
  expect_admitted(R"({"type":"number"})", "-1.5e+3");
  expect_admitted("{}", R"({"any":[1,"x",{"y":false}]})");
  expect_admitted("true", "[]");
  expect_admitted(R"({"required":["x"],"additionalProperties":{"type":"boolean"}})",
                  R"({"y":true,"x":false})");
  expect_admitted(R"({"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},
                      "kids":{"type":"array","items":{"$ref":"#/$defs/n"}}},"required":["v"],
                      "additionalProperties":false}},"$ref":"#/$defs/n"})",
                  R"({"v":1,"kids":[{"v":2,"kids":[]},{"v":3}]})");
  expect_admitted(R"({"anyOf":[{"type":"object","properties":{"k":{"const":"circle"},
                      "r":{"type":"number"}},"required":["k","r"],"additionalProperties":false},
                      {"type":"object","properties":{"k":{"const":"square"},
                      "side":{"type":"integer"}},"required":["k","side"],
                      "additionalProperties":false}]})",
                  R"({"k":"square","side":3})");
  expect_admitted(R"({"type":"object","properties":{"a\"b":{"type":"integer"}},
                      "additionalProperties":false})",
                  R"({"a\"b":1})");
  expect_admitted(R"({"type":"integer","nullable":true})", "null");
  const char* nullable_ref =
      R"({"$defs":{"p":{"type":"integer"}},"$ref":"#/$defs/p","nullable":true})";
  expect_admitted(nullable_ref, "null");
  expect_admitted(nullable_ref, "7");
  expect_refused(nullable_ref, "true", 0);
  {  // compact (max_whitespace 0): no whitespace outside strings
    auto s = compile(kPerson);
    ASSERT_TRUE(s);
    schema_matcher m(*s, /*max_whitespace=*/0);
    EXPECT_TRUE(m.feed(std::string_view(R"({"name":"A b","age":1)")));
    EXPECT_FALSE(m.feed(' '));
    EXPECT_TRUE(m.feed('}') && m.complete());
    EXPECT_FALSE(m.feed(' '));
    schema_matcher top(*s, 0);
    EXPECT_FALSE(top.feed(' '));
  }
  // a free key spelled as a declared one takes the declared schema
  expect_admitted(
      R"({"properties":{"x":{"type":"integer"}},"additionalProperties":{"type":"boolean"}})",
      R"({"x":1,"xy":true})");
  expect_refused(
      R"({"properties":{"x":{"type":"integer"}},"additionalProperties":{"type":"boolean"}})",
      R"({"x":true})", 5);
  expect_refused(
      R"({"properties":{"x":{"type":"integer"}},"additionalProperties":{"type":"boolean"}})",
      R"({"y":1})", 5);
}

// Many anyOf branches the text cannot tell apart yet: the first kMaxThreads are followed (the
// work per byte stays bounded), each able to end.
TEST(JsonSchema, ThreadsAreBounded) {
  std::string branches;
  for (int i = 0; i < 200; ++i)
    branches += std::string(i ? "," : "") + R"({"type":"object","properties":{"k":{"const":)" +
                std::to_string(i) + R"(}},"required":["k"],"additionalProperties":false})";
  const std::string schema = R"({"anyOf":[)" + branches + "]}";
  auto s = compile(schema);
  ASSERT_TRUE(s);
  schema_matcher m(*s);
  ASSERT_TRUE(m.feed(std::string_view(R"({"k":)")));
  EXPECT_EQ(m.threads(), schema_matcher::kMaxThreads);
  expect_admitted(schema, R"({"k":5})");
  expect_admitted(schema, R"({"k":127})");
  expect_refused(schema, R"({"k":150})", 7);  // (a branch past the first 128: not followed)
}

// pattern (ECMA-262, matched anywhere unless anchored): characters through the DFA, escapes
// decoded, lengths beside it; enum strings that do not match go.
TEST(JsonSchema, HoldsStringsToAPattern) {
  const char* code = R"({"type":"string","pattern":"^[A-Z]{3}-\\d{2,}$"})";
  expect_admitted(code, R"("ABC-12")");
  expect_admitted(code, R"("XYZ-12345")");
  expect_refused(code, R"("AB-12")", 3);   // a letter needed
  expect_refused(code, R"("ABC-1")", 6);   // two digits at least
  expect_refused(code, R"("abc-12")", 1);  // upper case
  const char* anywhere = R"({"type":"string","pattern":"ab+c"})";
  expect_admitted(anywhere, R"("xx abbbc yy")");
  expect_refused(anywhere, R"("xx ab yy")", 9);                  // no "ab+c" in it: it may not end
  expect_admitted(R"({"pattern":"^a\\nb\\t?$"})", R"("a\nb")");  // escapes are characters
  expect_admitted(R"({"pattern":"^\"[\\\\/]$"})", R"("\"\\")");
  expect_refused(R"({"pattern":"^x\"$"})", R"("x\\")", 3);   // \\ leads nowhere
  expect_refused(R"({"pattern":"^."})", R"("\u0041")", 2);   // \u: not taken
  expect_refused(R"({"pattern":"^."})", "\"\xc3\xa9\"", 1);  // past ASCII: not taken
  const char* pairs = R"({"pattern":"^(?:ab|cd)+$","minLength":3,"maxLength":6})";
  expect_admitted(pairs, R"("abcd")");
  expect_refused(pairs, R"("ab")", 3);       // 2 characters: too short
  expect_refused(pairs, R"("abcdabc")", 7);  // a 7th character: past maxLength
  expect_refused(R"({"pattern":"^(?:ab|cd)+$","maxLength":5})", R"("abcda")", 5);  // 6 needed
  expect_admitted(R"({"pattern":"^[^a-c]x{2}\\.[\\w-]$"})", R"("dxx._")");
  expect_admitted(R"({"enum":["A1","b2","C3"],"pattern":"^[A-Z]\\d$"})", R"("C3")");
  expect_refused(R"({"enum":["A1","b2","C3"],"pattern":"^[A-Z]\\d$"})", R"("b2")", 1);
  expect_admitted(R"({"type":["string","integer"],"pattern":"^x$"})", "12");  // (not a string)
}

TEST(JsonSchema, RefusesWhatItDoesNot) {
  expect_refused(kPerson, R"({"age":1})", 8);                    // '}' before "name"
  expect_refused(kPerson, R"({"nick":"x"})", 3);                 // not a property
  expect_refused(kPerson, R"({"age":1,"age":2})", 10);           // a key twice
  expect_refused(kPerson, R"({"name":"123456789"})", 17);        // maxLength 8
  expect_refused(kPerson, R"({"age":151})", 9);                  // maximum 150
  expect_refused(kPerson, R"({"age":-1})", 7);                   // minimum 0
  expect_refused(kPerson, R"({"age":1.5})", 8);                  // an integer
  expect_refused(kPerson, R"({"tags":["a","a","a","a"]})", 20);  // maxItems 3
  expect_refused(kPerson, R"({"tags":["c"]})", 10);              // enum
  expect_refused(kPerson, R"({"email":1})", 9);                  // string or null
  expect_refused(kPerson, R"([])", 0);                           // an object
  expect_refused(kPerson, R"({"name":"a","age":1} x)", 21);      // nothing after it
  expect_refused(R"({"enum":[1,10]})", "100", 2);
  expect_refused(R"({"enum":[1,10]})", "2", 0);
  expect_refused(R"({"type":"string","minLength":2})", R"("a")", 2);
  expect_refused(R"({"type":"array","minItems":2})", "[1]", 2);
  expect_refused(R"({"type":"array","prefixItems":[{"type":"boolean"}],"items":false})", "[true,",
                 5);
  expect_refused(R"({"type":"object","properties":{"a":{}},"required":["a"]})", "{}", 1);
  expect_refused(R"({"type":"boolean"})", "nul", 0);
  expect_refused(R"({"type":"object","additionalProperties":false})", R"({")", 1);
  expect_refused(R"({"type":"object","properties":{"a":{}},"additionalProperties":false})",
                 R"({"a":1,)", 6);  // no key left for a comma
  expect_refused(R"({"type":"integer"})", "1.0", 1);
  expect_refused(R"({"type":"string"})", "\"\\x\"", 2);
  expect_refused(R"({"type":"string"})", "\"\\ud800\"", 7);  // a high surrogate alone
  expect_refused(R"({"type":"integer"})", "  1", 1);         // one space before the value
}

struct bounds_d {
  const char* schema;
  double lo, hi;
  bool lo_exclusive, hi_exclusive;
};

TEST(JsonSchema, BoundsAreExact) {
  struct bounds {
    const char* schema;
    int64_t lo, hi;
  };
  const bounds cases[] = {
      {R"({"type":"integer","minimum":0,"maximum":150})", 0, 150},
      {R"({"type":"integer","minimum":-20,"maximum":300})", -20, 300},
      {R"({"type":"integer","exclusiveMinimum":-5,"exclusiveMaximum":5})", -4, 4},
      {R"({"type":"integer","minimum":7.5})", 8, INT64_MAX},
      {R"({"type":"integer","maximum":-3})", INT64_MIN, -3},
      {R"({"type":"integer","minimum":10,"exclusiveMinimum":true,"maximum":12})", 11, 12},
      {R"({"type":"integer","minimum":95,"maximum":105})", 95, 105},
  };
  for (const bounds& b : cases) {
    auto s = compile(b.schema);
    ASSERT_TRUE(s);
    for (int64_t v = -1200; v <= 1200; ++v) {
      const std::string text = std::to_string(v);
      schema_matcher m(*s);
      const bool ok = m.feed(text) && m.complete();
      EXPECT_EQ(ok, v >= b.lo && v <= b.hi) << b.schema << " " << v;
      if (v >= b.lo && v <= b.hi) {
        schema_matcher p(*s);  // in an array, too: the number ends at the ']'
      }
    }
  }
  // numbers: the doubles a client reads, each side inclusive or exclusive, no exponent
  const bounds_d real_cases[] = {
      {R"({"type":"number","minimum":0,"maximum":1})", 0, 1, false, false},
      {R"({"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1})", 0, 1, true, true},
      {R"({"type":"number","minimum":-2.5,"exclusiveMaximum":3.75})", -2.5, 3.75, false, true},
      {R"({"type":"number","minimum":0.1,"exclusiveMinimum":true,"maximum":0.3})", 0.1, 0.3, true,
       false},
      {R"({"type":["number","null"],"maximum":-0.05})", -1e300, -0.05, false, false},
  };
  std::vector<std::string> texts = {
      "0",       "-0",   "1",      "1.0",  "0.1",   "0.10",    "0.3",   "0.30000000001",
      "0.29999", "3.75", "3.7499", "-2.5", "-2.50", "-2.5001", "-0.05", "-0.049",
      "-0.0500", "10",   "100.5",  "-10"};
  for (int i = -600; i <= 600; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", i / 100.0);
    texts.push_back(buf);
  }
  for (const bounds_d& b : real_cases) {
    auto s = compile(b.schema);
    ASSERT_TRUE(s);
    for (const std::string& text : texts) {
      schema_matcher m(*s);
      const bool ok = m.feed(text) && m.complete();
      const double v = std::stod(text);
      const bool in =
          (b.lo_exclusive ? v > b.lo : v >= b.lo) && (b.hi_exclusive ? v < b.hi : v <= b.hi);
      EXPECT_EQ(ok, in) << b.schema << " " << text;
    }
  }
  expect_refused(R"({"type":"number","minimum":0,"maximum":1})", "0.5e1", 3);  // no exponent
  expect_admitted(R"({"type":"number"})", "0.5e1");  // (unbounded: JSON's whole grammar)
  expect_refused(R"({"type":"number","minimum":0,"maximum":1})", "2", 0);
  expect_refused(R"({"type":"number","minimum":0,"maximum":1})", "1.5", 2);
  expect_admitted(R"({"type":"number","minimum":0,"maximum":1})", "-0.0");  // (-0 is 0)
  expect_refused(R"({"type":"number","exclusiveMinimum":0})", "-", 0);
  expect_refused(R"({"type":"number","minimum":0.5})", "0.4", 2);
  expect_admitted(R"({"type":"number","minimum":0.5})", "0.5");
  expect_admitted(R"({"type":"number","minimum":0.5})", "1234.5");
  // a prefix with no admitted completion is refused at once (no dead end): 2 cannot start 95..105
  expect_refused(R"({"type":"integer","minimum":95,"maximum":105})", "2", 0);
  expect_refused(R"({"type":"integer","minimum":95,"maximum":105})", "11", 1);
  expect_refused(R"({"type":"integer","minimum":0})", "-", 0);
}

// Random walks: from each state some byte continues (or the text is whole); each finished text
// is checked by json_schema_peer.py. Every schema must see some walks finish.
TEST(JsonSchema, RandomWalksNeverDeadEndAndEndValid) {
  const std::vector<std::string> schemas = {
      kPerson,
      R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer",
          "exclusiveMinimum":-5,"exclusiveMaximum":5},"kids":{"type":"array",
          "items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"],
          "additionalProperties":false}},
          "$ref":"#/$defs/node"})",
      R"({"anyOf":[{"type":"object","properties":{"kind":{"const":"circle"},
          "r":{"type":"number"}},"required":["kind","r"],"additionalProperties":false},
          {"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"integer"}},
          "required":["kind","side"],"additionalProperties":false}]})",
      R"({"type":"array","prefixItems":[{"type":"boolean"},{"type":"null"},
          {"enum":[1,10,100]}],"items":false,"minItems":2})",
      R"({"type":"integer","minimum":-20,"maximum":300})",
      R"({"type":"string","minLength":2,"maxLength":4})",
      R"({})",
      R"({"type":["string","integer","null"]})",
      R"({"type":"object","properties":{"x":{"type":"integer"}},
          "additionalProperties":{"type":"boolean"}})",
      R"({"type":"object","properties":{"p":{"type":"number","minimum":0,"maximum":1},
          "t":{"type":"number","exclusiveMinimum":-2.5,"exclusiveMaximum":3.75}},
          "required":["p","t"],"additionalProperties":false})",
      R"({"type":"object","properties":{"a":{"type":"array","minItems":1,"maxItems":3,
          "items":{"type":"string","maxLength":2}},"b":{"oneOf":[{"type":"integer"},
          {"type":"boolean"}]}},"required":["a","b"],"additionalProperties":false})",
      R"({"type":"object","properties":{"date":{"type":"string",
          "pattern":"^\\d{4}-(0[1-9]|1[0-2])-\\d{2}$"},"code":{"type":"string",
          "pattern":"[A-Z]{2}[0-9]+","maxLength":6},"tag":{"type":"string",
          "pattern":"^(?:[a-z]+\\.)*x?$","minLength":2}},"required":["date","code","tag"],
          "additionalProperties":false})",
  };
  const std::string out = std::string(KAITO_BINARY_DIR) + "/tests/engine/json_schema_walks.jsonl";
  std::ofstream lines(out);
  std::mt19937 rng(7);
  int finished = 0;
  for (const std::string& text : schemas) {
    auto s = compile(text);
    ASSERT_TRUE(s);
    const auto schema_json = nlohmann::json::parse(text);
    int ended = 0;
    for (int walk = 0; walk < 150; ++walk) {
      schema_matcher m(*s);
      std::string doc;
      for (int step = 0; step < 400; ++step) {
        if (m.complete() && std::uniform_int_distribution<int>(0, 2)(rng) == 0) break;
        // the bytes that continue, closers weighted up so walks end
        std::vector<unsigned char> next;
        std::vector<double> weight;
        for (int c = 1; c < 256; ++c) {
          schema_matcher t = m;
          if (!t.feed(static_cast<unsigned char>(c))) continue;
          next.push_back(static_cast<unsigned char>(c));
          const bool closer = c == '}' || c == ']' || c == '"' || c == ',';
          const bool in_schema = text.find(static_cast<char>(c)) != std::string::npos;
          weight.push_back(closer      ? 40.0
                           : c >= 0x80 ? 0.05
                           : c == ' '  ? 0.5
                           : in_schema ? 8.0  // (the letters of its keys: required ones come)
                                       : 1.0);
        }
        if (next.empty()) {
          ASSERT_TRUE(m.complete()) << "dead end after " << doc << " for " << text;
          break;
        }
        std::discrete_distribution<size_t> pick(weight.begin(), weight.end());
        const unsigned char c = next[pick(rng)];
        ASSERT_TRUE(m.feed(c));
        doc.push_back(static_cast<char>(c));
      }
      if (!m.complete()) continue;
      // a byte >= 0x80 may have left a part of a UTF-8 character: the peer reads whole ones
      if (std::any_of(doc.begin(), doc.end(), [](char c) { return c & 0x80; })) continue;
      lines << nlohmann::json{{"schema", schema_json}, {"text", doc}}.dump() << "\n";
      ++finished;
      ++ended;
    }
    EXPECT_GE(ended, 20) << text;
  }
  lines.close();
  EXPECT_GT(finished, 600);
  const std::string cmd =
      "python3 " + std::string(KAITO_SOURCE_DIR) + "/tests/engine/json_schema_peer.py " + out;
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "json_schema_peer.py found an invalid text (python3 with `jsonschema` is "
                      "needed: run ./setup.sh): "
                   << cmd;
}

// The token filter: with a small vocabulary, each step's allowed tokens are exactly those whose
// bytes the matcher takes; a greedy run over the allowed ones ends in an admitted value.
TEST(JsonSchema, TokenFilterMasksByTheSchema) {
  auto vocab = std::make_shared<vocab_bytes>();
  vocab->text = {"<s>", "</s>", "{", "}",   "\"", "name", "\":", " \"", "age",          "1",
                 "50",  "00",   ",", "\"a", "bc", "x\"",  "-",   " ",   "\"name\": \"", "é"};
  vocab->special.assign(vocab->text.size(), false);
  vocab->special[0] = vocab->special[1] = true;
  vocab->index();
  auto s = compile(kPerson);
  ASSERT_TRUE(s);
  schema_token_filter f(vocab, {1}, s);
  std::vector<float> logits(vocab->text.size() + 2, 0.0f);  // (the model's may be padded)
  f.mask(logits);
  auto allowed = [&] {
    std::vector<std::string> out;
    for (size_t i = 0; i < logits.size(); ++i)
      if (logits[i] > -INFINITY) out.push_back(i < vocab->text.size() ? vocab->text[i] : "?");
    return out;
  };
  EXPECT_EQ(allowed(), (std::vector<std::string>{"{", " "}));
  // drive it: {"name": "abc", "age": 150} token by token, checking a few masks on the way
  const std::vector<int32_t> ids = {2, 18, 14, 4, 12, 7, 8, 6, 9, 10, 3};
  std::string text;
  for (size_t k = 0; k < ids.size(); ++k) {
    logits.assign(vocab->text.size() + 2, 0.0f);
    f.mask(logits);
    ASSERT_GT(logits[static_cast<size_t>(ids[k])], -INFINITY)
        << "token " << vocab->text[static_cast<size_t>(ids[k])] << " after " << text;
    if (k == 3) {  // in the name's string: plain tokens pass, "x\"" would end it at 4 chars
      EXPECT_GT(logits[14], -INFINITY);
      EXPECT_GT(logits[19], -INFINITY);
      EXPECT_EQ(logits[1], -INFINITY);  // not whole yet
    }
    f.advance(ids[k]);
    text += vocab->text[static_cast<size_t>(ids[k])];
  }
  EXPECT_EQ(text, "{\"name\": \"bc\", \"age\":150}");
  EXPECT_TRUE(f.state().complete());
  logits.assign(vocab->text.size() + 2, 0.0f);
  f.mask(logits);
  EXPECT_EQ(allowed(), (std::vector<std::string>{"</s>", " "}));
}

// The trie walk (plain runs inside strings not fed, states after them shared, subtrees that fit
// marked whole) allows exactly the tokens a token-by-token check does: on a random vocabulary of
// JSON's bytes and UTF-8, along random generations, for JSON mode and for schemas with string
// lengths, anyOf, free keys and a pattern.
TEST(JsonSchema, TokenFilterEqualsTokenByToken) {
  auto vocab = std::make_shared<vocab_bytes>();
  const std::vector<std::string> alphabet = {
      "a", "b", "x",  "1",  "0", "-", " ", "\n", "{", "}", "[",        "]",
      ":", ",", "\"", "\\", "u", "e", ".", "t",  "r", "n", "\xc3\xa9", "\xe2\x82\xac"};
  std::mt19937 rng(11);
  vocab->text = {"<end>"};
  vocab->special = {true};
  for (const std::string& a : alphabet) vocab->text.push_back(a);  // every byte alone too
  for (int i = 0; i < 3000; ++i) {
    std::string piece;
    for (int k = 1 + static_cast<int>(rng() % 6); k > 0; --k)
      piece += alphabet[rng() % alphabet.size()];
    vocab->text.push_back(piece);
  }
  vocab->text.push_back(vocab->text[40]);  // a text twice
  vocab->special.resize(vocab->text.size(), false);
  vocab->index();
  const std::vector<int32_t> end = {0};
  const std::vector<std::string> schemas = {
      kPerson,
      R"({"anyOf":[{"type":"string","maxLength":3},{"const":"abcdef"},{"type":"integer"}]})",
      R"({"type":"object","additionalProperties":{"type":"string","minLength":1,"maxLength":2}})",
      R"({"type":"array","items":{"type":"string","maxLength":5},"maxItems":4})",
      R"({"type":"array","items":{"type":"string","pattern":"^[ab1]+\\\\?x?$"},"maxItems":3})",
  };
  // expected_of(i): token i's bytes continue the state (the end token: the text is whole; and
  // when nothing continues, the filter lets the end token come)
  auto check = [&](auto& filter, auto expected_of, const char* what) {
    std::string text;
    for (int step = 0; step < 40; ++step) {
      std::vector<float> logits(vocab->text.size(), 0.0f);
      filter.mask(logits);
      std::vector<char> expected(logits.size());
      bool other = false;
      for (size_t i = 1; i < logits.size(); ++i) other |= (expected[i] = expected_of(i)) != 0;
      expected[0] = expected_of(0) || !other;
      std::vector<int32_t> allowed;
      for (size_t i = 0; i < logits.size(); ++i) {
        const bool ok = logits[i] > -INFINITY;
        ASSERT_EQ(ok, expected[i] != 0)
            << what << " after [" << text << "]: token " << i << " [" << vocab->text[i] << "]";
        if (ok && i != 0) allowed.push_back(static_cast<int32_t>(i));
      }
      if (allowed.empty()) break;
      const int32_t id = allowed[rng() % allowed.size()];
      filter.advance(id);
      text += vocab->text[static_cast<size_t>(id)];
    }
  };
  for (int run = 0; run < 20; ++run) {
    json_token_filter jf(vocab, end);
    check(
        jf,
        [&](size_t i) {
          if (i == 0) return jf.state().complete();
          json_prefix p = jf.state();
          return p.feed(vocab->text[i]);
        },
        "json_object");
    for (const std::string& text : schemas) {
      auto s = compile(text);
      ASSERT_TRUE(s);
      schema_token_filter sf(vocab, end, s);
      check(
          sf,
          [&](size_t i) {
            if (i == 0) return sf.state().complete();
            schema_matcher m = sf.state();
            return m.feed(vocab->text[i]);
          },
          text.c_str());
    }
  }
}

}  // namespace
}  // namespace kaito::engine
