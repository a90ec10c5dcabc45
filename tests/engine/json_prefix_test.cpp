// json_prefix (engine/json_prefix.h): prefixes of JSON objects are accepted byte by byte and
// whole only at their end; what cannot continue is refused without changing the state; and
// against nlohmann's parser on random ASCII texts: every prefix of a text nlohmann accepts as an
// object is accepted, and a text json_prefix calls whole is one nlohmann accepts.
#include "engine/json_prefix.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kaito::engine {
namespace {

// Every prefix of `text` feeds; whole exactly at the end.
void expect_object(const std::string& text) {
  json_prefix p;
  for (size_t i = 0; i < text.size(); ++i) {
    ASSERT_TRUE(p.feed(static_cast<unsigned char>(text[i]))) << text << " at byte " << i;
    if (i + 1 < text.size()) EXPECT_FALSE(p.complete()) << text << " at byte " << i;
  }
  EXPECT_TRUE(p.complete()) << text;
}

// `text` feeds up to byte `at`, which is refused (and the state stays a prefix of what came).
void expect_refused(const std::string& text, size_t at) {
  json_prefix p;
  for (size_t i = 0; i < at; ++i)
    ASSERT_TRUE(p.feed(static_cast<unsigned char>(text[i]))) << text << " at byte " << i;
  EXPECT_FALSE(p.feed(static_cast<unsigned char>(text[at]))) << text << " at byte " << at;
  json_prefix q;
  EXPECT_TRUE(q.feed(std::string_view(text).substr(0, at))) << text;
}

TEST(JsonPrefix, ObjectsAreAcceptedByteByByte) {
  expect_object("{}");
  expect_object(R"({"a":1})");
  expect_object(
      R"( { "a" : [ 1 , -0.5e+3 , 0 , 10E2 , true , false , null , "x\"\\\/\b\f\n\r\t\u00e9" ] , "b" : { } })");
  expect_object("{\"caf\xc3\xa9\": \"\xe2\x82\xac\"}");  // UTF-8 in strings
  expect_object(R"({"n":[[[[]]]],"e":"","z":-0})");
}

TEST(JsonPrefix, WhatCannotContinueIsRefused) {
  expect_refused("[1]", 0);  // not an object at the top
  expect_refused("\"a\"", 0);
  expect_refused("{a:1}", 1);            // keys are strings
  expect_refused("{\"a\" 1}", 5);        // the colon
  expect_refused("{\"a\":01}", 6);       // a leading zero
  expect_refused("{\"a\":-}", 6);        // a lone minus
  expect_refused("{\"a\":1.}", 7);       // a lone dot
  expect_refused("{\"a\":1e}", 7);       // an empty exponent
  expect_refused("{\"a\":+1}", 5);       // no plus
  expect_refused("{\"a\":tru}", 8);      // the literal
  expect_refused("{\"a\":\"\\x\"}", 7);  // an escape
  expect_refused("{\"a\":\"\\u12g4\"}", 10);
  expect_refused("{\"a\":\"\\udc00\"}", 9);   // a low surrogate alone
  expect_refused("{\"a\":\"\\ud83d\"}", 12);  // a high one without its low one
  expect_refused("{\"a\":\"\\ud83d\\n\"}", 13);
  expect_refused("{\"a\":\"\\ud83d\\u0041\"}", 14);
  expect_object("{\"a\":\"\\ud83d\\ude00\\uD800\\uDFFF\"}");  // pairs
  expect_refused("{\"a\":\"\n\"}", 6);                        // a control character in a string
  expect_refused("{\"a\":1,}", 7);                            // a trailing comma
  expect_refused("{\"a\":[1,]}", 8);
  expect_refused("{\"a\":[1}", 7);  // the wrong closer
  expect_refused("{} x", 3);        // only whitespace after the value
  expect_refused("{}}", 2);
  // all or nothing for a run of bytes
  json_prefix p;
  ASSERT_TRUE(p.feed("{\"a\":"));
  EXPECT_FALSE(p.feed("12x"));
  EXPECT_TRUE(p.feed("3}"));
  EXPECT_TRUE(p.complete());
}

TEST(JsonPrefix, WhitespaceRunsAndDepthAreBounded) {
  json_prefix p(true, 4);
  EXPECT_FALSE(p.feed("  {"));  // before the value: one byte
  EXPECT_TRUE(p.feed(" {    "));
  EXPECT_FALSE(p.feed(" "));
  EXPECT_TRUE(p.feed("\"a\":[\n   1]"));
  EXPECT_TRUE(p.feed("} "));  // after it: one byte
  EXPECT_FALSE(p.feed(" "));
  EXPECT_TRUE(p.complete());
  json_prefix deep;
  ASSERT_TRUE(deep.feed("{\"a\":"));
  for (int i = 1; i < json_prefix::kMaxDepth; ++i) ASSERT_TRUE(deep.feed("[")) << i;
  EXPECT_FALSE(deep.feed("["));
  // not object-only: any value, a top-level number ends with the text
  json_prefix any(false);
  EXPECT_TRUE(any.feed("12"));
  EXPECT_TRUE(any.complete());
  EXPECT_TRUE(any.feed(".5 "));
  EXPECT_FALSE(any.feed(" "));
  EXPECT_TRUE(any.complete());
}

// Random texts over JSON's ASCII alphabet, half of them made valid by construction.
std::string random_value(std::mt19937& rng, int depth) {
  const int kind = static_cast<int>(rng() % (depth > 3 ? 4 : 6));
  switch (kind) {
    case 0: {
      static const char* nums[] = {"0", "-1", "12.5", "1e9", "-0.0E-2", "7"};
      return nums[rng() % 6];
    }
    case 1:
      return std::vector<std::string>{"true", "false", "null"}[rng() % 3];
    case 2:
    case 3: {
      static const char* strs[] = {"\"\"", "\"a b\"", "\"\\n\\\"\"", "\"\\u0041x\""};
      return strs[rng() % 4];
    }
    case 4: {
      std::string s = "[";
      const int n = static_cast<int>(rng() % 3);
      for (int i = 0; i < n; ++i) s += (i ? ", " : "") + random_value(rng, depth + 1);
      return s + "]";
    }
    default: {
      std::string s = "{";
      const int n = static_cast<int>(rng() % 3);
      for (int i = 0; i < n; ++i)
        s += std::string(i ? "," : "") + "\"k" + std::to_string(i) +
             "\" :" + random_value(rng, depth + 1);
      return s + "}";
    }
  }
}

TEST(JsonPrefix, AgreesWithNlohmannOnRandomTexts) {
  std::mt19937 rng(7);
  int whole = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string text = "{\"v\":" + random_value(rng, 0) + "}";
    if (n % 2 == 1 && !text.empty()) {  // a random edit
      const size_t at = rng() % text.size();
      const char* alphabet = "{}[]:,\"\\ 0123456789.eE+-tfnulraxu";
      const char c = alphabet[rng() % 32];
      if (rng() % 2)
        text[at] = c;
      else
        text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
    }
    json_prefix p;
    size_t fed = 0;
    while (fed < text.size() && p.feed(static_cast<unsigned char>(text[fed]))) ++fed;
    const bool accepted = nlohmann::json::accept(text);
    const bool object = accepted && nlohmann::json::parse(text).is_object();
    if (object) {
      EXPECT_EQ(fed, text.size()) << text;
      EXPECT_TRUE(p.complete()) << text;
      ++whole;
    }
    if (fed == text.size() && p.complete()) EXPECT_TRUE(object) << text;
  }
  EXPECT_GT(whole, 1000);
}

}  // namespace
}  // namespace kaito::engine
