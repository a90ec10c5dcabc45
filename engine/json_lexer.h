// json_lexer: the two JSON tokens a byte-at-a-time recognizer cannot take in one step, a string's
// body and a number, as small value types (engine/schema_matcher.h steps them inside its frames).
//
//   json_string_lexer s;               // after the opening '"'
//   s.step('a');                       // more (a new character)
//   s.step('"');                       // closed
//
//   json_number_lexer n;               // integer_only: no fraction, no exponent
//   n.begin('-', /*integer_only=*/false);
//   n.step('1');                       // more
//   n.step(',');                       // ended: ',' is not the number's (the caller steps it on)
//
// Strings: any byte >= 0x80 (parts of UTF-8 characters; a token may hold a part), no control
// character, the escapes of RFC 8259, \uXXXX with surrogates in pairs (a high one, then "\u" and a
// low one). A character is counted where it starts (an ASCII byte, a UTF-8 lead byte, an escape;
// a surrogate pair once), as JSON Schema's minLength/maxLength count code points.
// Numbers: RFC 8259's grammar (no leading zeros, no '+', no lone '-' or '.'); integer_only stops
// at the digits; no_exponent before an exponent. magnitude() is the integer read so far,
// saturated at 2^63, value() the decimal (for bounds).
#pragma once

#include <cstdint>

namespace kaito::engine {

enum class lex : uint8_t { fail, more, closed, ended };

class json_string_lexer {
 public:
  // c after the opening quote: fail, more (c is part of the string), or closed (c is the '"').
  // new_char: c starts a character.
  lex step(unsigned char c, bool& new_char) {
    int32_t cp = -1;
    return step(c, new_char, cp);
  }
  // The same, and code_point: the ASCII character c is or completes (an ASCII byte, or the end of
  // a two-byte escape: \n is 10), or -1 (a byte of a longer character, \u escapes included:
  // a pattern's strings are held to ASCII, engine/json_regex.h).
  lex step(unsigned char c, bool& new_char, int32_t& code_point);
  // Any byte but '"', '\\' and control characters just extends the string here.
  bool plain() const { return mode_ == mode::chars && !need_low_; }
  bool operator==(const json_string_lexer&) const = default;

 private:
  enum class mode : uint8_t { chars, escape, unicode };
  mode mode_ = mode::chars;
  uint8_t hex_left_ = 0;
  bool first_d_ = false, high_ = false, need_low_ = false;
};

class json_number_lexer {
 public:
  // c starts a number ('-' or a digit): false if it cannot. no_exponent: a fraction may come,
  // an exponent not (a plain decimal, whose value() is known as it grows).
  bool begin(unsigned char c, bool integer_only, bool no_exponent = false);
  // c after the number so far: fail, more, or ended (the number is whole before c; c is not its).
  lex step(unsigned char c);
  // The number so far is whole (it may end here).
  bool whole() const;
  bool negative() const { return negative_; }
  bool has_digits() const { return mode_ != mode::minus; }
  // A leading 0 came: no more integer digits.
  bool zero() const { return mode_ == mode::zero; }
  // The integer digits' value (saturated at 2^63), without the sign.
  uint64_t magnitude() const { return magnitude_; }
  bool in_integer() const { return mode_ == mode::zero || mode_ == mode::integer; }
  // After the '.': fraction_digits() digits of it came.
  bool in_fraction() const { return mode_ == mode::dot || mode_ == mode::fraction; }
  int32_t fraction_digits() const { return fraction_digits_; }
  // The magnitude so far, integer and fraction digits (no exponent), in long double.
  long double value() const { return value_; }
  bool operator==(const json_number_lexer&) const = default;

 private:
  void digit_of_fraction(unsigned char c);
  enum class mode : uint8_t {
    minus,
    zero,
    integer,
    dot,
    fraction,
    exponent,
    exponent_sign,
    exponent_digits
  };
  mode mode_ = mode::minus;
  bool integer_only_ = false, no_exponent_ = false;
  bool negative_ = false;
  uint64_t magnitude_ = 0;
  int32_t fraction_digits_ = 0;
  long double value_ = 0, scale_ = 1;  // scale_: 10^-fraction_digits_
};

}  // namespace kaito::engine
