// json_lexer; see json_lexer.h.
#include "engine/json_lexer.h"

namespace kaito::engine {

namespace {

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr uint64_t kSaturated = uint64_t{1} << 63;

}  // namespace

lex json_string_lexer::step(unsigned char c, bool& new_char, int32_t& code_point) {
  new_char = false;
  code_point = -1;
  switch (mode_) {
    case mode::chars:
      if (need_low_ && c != '\\') return lex::fail;  // "\u" and the low surrogate must come
      if (c == '"') return lex::closed;
      if (c == '\\') {
        new_char = !need_low_;  // a low surrogate ends the high one's character
        mode_ = mode::escape;
        return lex::more;
      }
      if (c < 0x20) return lex::fail;
      new_char = c < 0x80 || c >= 0xc0;
      if (c < 0x80) code_point = c;
      return lex::more;
    case mode::escape:
      if (c == 'u') {
        mode_ = mode::unicode;
        hex_left_ = 4;
        return lex::more;
      }
      if (need_low_) return lex::fail;
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        mode_ = mode::chars;
        code_point = c == 'b'   ? '\b'
                     : c == 'f' ? '\f'
                     : c == 'n' ? '\n'
                     : c == 'r' ? '\r'
                     : c == 't' ? '\t'
                                : c;
        return lex::more;
      }
      return lex::fail;
    case mode::unicode: {
      if (!is_hex(c)) return lex::fail;
      const int at = 4 - hex_left_;  // digit 0 .. 3
      const bool d = c == 'd' || c == 'D';
      if (at == 0) {
        if (need_low_ && !d) return lex::fail;
        first_d_ = d;
        high_ = false;
      } else if (at == 1 && first_d_) {
        const bool low = (c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F');
        if (low != need_low_) return lex::fail;  // a low surrogate alone, or none after a high
        high_ = !low && !is_digit(c) ? true : (c == '8' || c == '9');
      }
      if (--hex_left_ == 0) {
        mode_ = mode::chars;
        need_low_ = high_;
        high_ = false;
      }
      return lex::more;
    }
  }
  return lex::fail;
}

bool json_number_lexer::begin(unsigned char c, bool integer_only, bool no_exponent) {
  *this = json_number_lexer{};
  integer_only_ = integer_only;
  no_exponent_ = no_exponent;
  if (c == '-') {
    negative_ = true;
    return true;
  }
  return step(c) == lex::more;
}

bool json_number_lexer::whole() const {
  return mode_ == mode::zero || mode_ == mode::integer || mode_ == mode::fraction ||
         mode_ == mode::exponent_digits;
}

void json_number_lexer::digit_of_fraction(unsigned char c) {
  ++fraction_digits_;
  scale_ /= 10;
  value_ += (c - '0') * scale_;
}

lex json_number_lexer::step(unsigned char c) {
  switch (mode_) {
    case mode::minus:
      if (c == '0') {
        mode_ = mode::zero;
        return lex::more;
      }
      if (c >= '1' && c <= '9') {
        mode_ = mode::integer;
        magnitude_ = c - '0';
        value_ = c - '0';
        return lex::more;
      }
      return lex::fail;
    case mode::zero:
    case mode::integer:
    case mode::fraction:
    case mode::exponent_digits:
      if (is_digit(c) && mode_ != mode::zero) {
        if (mode_ == mode::integer) {
          const uint64_t d = c - '0';
          magnitude_ = magnitude_ > (kSaturated - d) / 10 ? kSaturated : magnitude_ * 10 + d;
          value_ = value_ * 10 + d;
        } else if (mode_ == mode::fraction) {
          digit_of_fraction(c);
        }
        return lex::more;
      }
      if (!integer_only_ && c == '.' && (mode_ == mode::zero || mode_ == mode::integer)) {
        mode_ = mode::dot;
        return lex::more;
      }
      if (!integer_only_ && !no_exponent_ && (c == 'e' || c == 'E') &&
          mode_ != mode::exponent_digits) {
        mode_ = mode::exponent;
        return lex::more;
      }
      return lex::ended;
    case mode::dot:
      if (!is_digit(c)) return lex::fail;
      mode_ = mode::fraction;
      digit_of_fraction(c);
      return lex::more;
    case mode::exponent:
      if (c == '+' || c == '-') {
        mode_ = mode::exponent_sign;
        return lex::more;
      }
      [[fallthrough]];
    case mode::exponent_sign:
      if (!is_digit(c)) return lex::fail;
      mode_ = mode::exponent_digits;
      return lex::more;
  }
  return lex::fail;
}

}  // namespace kaito::engine
