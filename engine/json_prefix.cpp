// json_prefix; see json_prefix.h.
#include "engine/json_prefix.h"

#include <algorithm>

namespace kaito::engine {

namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool json_prefix::feed(std::string_view s) {
  json_prefix before = *this;
  for (char c : s)
    if (!step(static_cast<unsigned char>(c))) {
      *this = before;
      return false;
    }
  return true;
}

bool json_prefix::feed(unsigned char c) {
  json_prefix before = *this;
  if (step(c)) return true;
  *this = before;
  return false;
}

bool json_prefix::complete() const {
  if (mode_ == mode::done) return true;
  // a top-level number ends only where the text does
  const bool number_end = mode_ == mode::zero || mode_ == mode::integer ||
                          mode_ == mode::fraction || mode_ == mode::exponent_digits;
  return depth_ == 0 && number_end;
}

bool json_prefix::space(unsigned char c) {
  // outside the value (before it, after it) one whitespace byte at most
  const int cap = depth_ == 0 ? std::min(max_ws_, 1) : max_ws_;
  if (!is_space(c) || ws_run_ >= cap) return false;
  ++ws_run_;
  return true;
}

void json_prefix::end_value() {
  mode_ = depth_ == 0 ? mode::done : mode::after_value;
}

bool json_prefix::begin_value(unsigned char c) {
  const bool top = depth_ == 0;
  if (top && object_only_ && c != '{') return false;
  switch (c) {
    case '{':
    case '[':
      if (depth_ >= kMaxDepth) return false;
      stack_[static_cast<size_t>(depth_++)] = static_cast<char>(c);
      mode_ = c == '{' ? mode::key_first : mode::array_first;
      return true;
    case '"':
      mode_ = mode::string;
      key_ = false;
      return true;
    case '-':
      mode_ = mode::minus;
      return true;
    case '0':
      mode_ = mode::zero;
      return true;
    case 't':
      literal_ = "true";
      break;
    case 'f':
      literal_ = "false";
      break;
    case 'n':
      literal_ = "null";
      break;
    default:
      if (c >= '1' && c <= '9') {
        mode_ = mode::integer;
        return true;
      }
      return false;
  }
  mode_ = mode::literal;
  literal_at_ = 1;
  return true;
}

bool json_prefix::step(unsigned char c) {
  if (!is_space(c)) ws_run_ = 0;
  switch (mode_) {
    case mode::value:
      return space(c) || begin_value(c);
    case mode::array_first:
      if (c == ']') {
        --depth_;
        end_value();
        return true;
      }
      return space(c) || begin_value(c);
    case mode::key_first:
    case mode::key:
      if (c == '}' && mode_ == mode::key_first) {
        --depth_;
        end_value();
        return true;
      }
      if (c == '"') {
        mode_ = mode::string;
        key_ = true;
        return true;
      }
      return space(c);
    case mode::colon:
      if (c == ':') {
        mode_ = mode::value;
        return true;
      }
      return space(c);
    case mode::after_value: {
      const char open = stack_[static_cast<size_t>(depth_ - 1)];
      if (c == ',') {
        mode_ = open == '{' ? mode::key : mode::value;
        return true;
      }
      if ((open == '{' && c == '}') || (open == '[' && c == ']')) {
        --depth_;
        end_value();
        return true;
      }
      return space(c);
    }
    case mode::done:
      return space(c);
    case mode::string:
      if (need_low_ && c != '\\') return false;  // "\u" and the low surrogate must come
      if (c == '"') {
        if (key_)
          mode_ = mode::colon;
        else
          end_value();
        return true;
      }
      if (c == '\\') {
        mode_ = mode::escape;
        return true;
      }
      return c >= 0x20;  // (bytes >= 0x80: parts of UTF-8 characters)
    case mode::escape:
      if (c == 'u') {
        mode_ = mode::unicode;
        hex_left_ = 4;
        return true;
      }
      if (need_low_) return false;
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        mode_ = mode::string;
        return true;
      }
      return false;
    case mode::unicode: {
      if (!is_hex(c)) return false;
      const int at = 4 - hex_left_;  // digit 0 .. 3
      const bool d = c == 'd' || c == 'D';
      if (at == 0) {
        if (need_low_ && !d) return false;
        first_d_ = d;
        high_ = false;
      } else if (at == 1 && first_d_) {
        const bool low = (c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F');
        if (low != need_low_) return false;  // a low surrogate alone, or no low one after a high
        high_ = !low && !is_digit(c) ? true : (c == '8' || c == '9');
      }
      if (--hex_left_ == 0) {
        mode_ = mode::string;
        need_low_ = high_;
        high_ = false;
      }
      return true;
    }
    case mode::minus:
      if (c == '0') {
        mode_ = mode::zero;
        return true;
      }
      if (c >= '1' && c <= '9') {
        mode_ = mode::integer;
        return true;
      }
      return false;
    case mode::zero:
    case mode::integer:
    case mode::fraction:
    case mode::exponent_digits:
      if (is_digit(c) && mode_ != mode::zero) return true;
      if ((c == '.') && (mode_ == mode::zero || mode_ == mode::integer)) {
        mode_ = mode::dot;
        return true;
      }
      if ((c == 'e' || c == 'E') && mode_ != mode::exponent_digits) {
        mode_ = mode::exponent;
        return true;
      }
      // the number ends here; c is what follows it
      end_value();
      return step(c);
    case mode::dot:
      if (!is_digit(c)) return false;
      mode_ = mode::fraction;
      return true;
    case mode::exponent:
      if (c == '+' || c == '-') {
        mode_ = mode::exponent_sign;
        return true;
      }
      [[fallthrough]];
    case mode::exponent_sign:
      if (!is_digit(c)) return false;
      mode_ = mode::exponent_digits;
      return true;
    case mode::literal:
      if (literal_[literal_at_] != static_cast<char>(c)) return false;
      if (literal_[++literal_at_] == '\0') end_value();
      return true;
  }
  return false;
}

}  // namespace kaito::engine
