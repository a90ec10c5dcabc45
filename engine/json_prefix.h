// json_prefix: a byte-at-a-time JSON recognizer (RFC 8259) for constrained generation (OpenAI's
// response_format {"type": "json_object"}): it says whether a text so far can still grow into one
// JSON value, and whether it is one now.
//
//   json_prefix p(/*object_only=*/true);
//   p.feed("{\"a\": [1, tr");   // true: a prefix of some object
//   p.feed("x");               // false: nothing continues "tr" with "x" (p is unchanged)
//   p.complete();              // false until the closing "}"
//
// object_only: the top-level value must be an object (json_object mode). Strings take any byte
// >= 0x80 (a token may hold a part of a UTF-8 character; the model's text is not re-validated
// here) and refuse control characters; escapes and \uXXXX are checked, surrogates in pairs (a
// high one then a low one, as strict parsers want them). Numbers follow the grammar
// (no leading zeros, no "+", no lone "-" or "."). Whitespace is space, tab, CR, LF: inside the
// value at most max_whitespace bytes in a row (room for a newline and indentation), before and
// after it one byte at most (a sampler steered into whitespace would otherwise pad without end;
// outlines allows one space), and after the value only that may come. Nesting
// deeper than kMaxDepth containers is refused.
//
// Thread-safety: a value type; copies are independent (a token filter tries each token on a copy).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "engine/json_lexer.h"

namespace kaito::engine {

class json_prefix {
 public:
  static constexpr int kMaxDepth = 64;
  explicit json_prefix(bool object_only = true, int max_whitespace = 16)
      : object_only_(object_only), max_ws_(max_whitespace) {}

  // Appends c: true when the text can still grow into a value; false (and no change) otherwise.
  bool feed(unsigned char c);
  // Every byte of s, all or nothing: false leaves the state as it was.
  bool feed(std::string_view s);
  // As schema_matcher's (a copy made to try a token on): the same as feed here.
  bool try_feed(std::string_view s) { return feed(s); }
  // The text so far is one whole value (trailing whitespace allowed).
  bool complete() const;
  // Inside a string where any bytes but '"', '\\' and control characters just extend it (a
  // token filter's fast path: such a token is allowed without feeding it).
  bool in_plain_string() const { return mode_ == mode::string && str_.plain(); }
  // As schema_matcher's: the characters such bytes may add (any), -1 outside such a string.
  int64_t plain_room() const { return in_plain_string() ? INT64_MAX : -1; }

 private:
  enum class mode : uint8_t {
    value,        // a value must come (top level, after ':' or ',' in an array)
    array_first,  // after '[': a value or ']'
    key_first,    // after '{': a key or '}'
    key,          // after ',' in an object: a key
    colon,        // after a key
    after_value,  // in a container after a value: ',' or its closer
    done,         // the top-level value ended
    string,       // inside a string (str_; key_ says whether it is a key)
    number,       // inside a number (num_)
    literal,      // inside true / false / null (literal_, literal_at_)
  };
  bool step(unsigned char c);
  bool begin_value(unsigned char c);  // c starts a value (mode_ expects one)
  void end_value();                   // a scalar or container value just ended
  bool space(unsigned char c);        // c is whitespace allowed here (counts the run)

  bool object_only_;
  int max_ws_;
  mode mode_ = mode::value;
  bool key_ = false;
  json_string_lexer str_;  // (json_lexer.h: escapes, surrogates in pairs)
  json_number_lexer num_;
  const char* literal_ = nullptr;
  uint8_t literal_at_ = 0;
  int ws_run_ = 0;
  int depth_ = 0;
  std::array<char, kMaxDepth> stack_{};  // '{' or '['
};

}  // namespace kaito::engine
