// json_prefix; see json_prefix.h.
#include "engine/json_prefix.h"

#include <algorithm>

namespace kaito::engine {

namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
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
  return depth_ == 0 && mode_ == mode::number && num_.whole();
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
      str_ = json_string_lexer{};
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
      if (!num_.begin(c, /*integer_only=*/false)) return false;
      mode_ = mode::number;
      return true;
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
        str_ = json_string_lexer{};
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
    case mode::string: {
      bool new_char = false;
      const lex r = str_.step(c, new_char);
      if (r == lex::fail) return false;
      if (r == lex::closed) {
        if (key_)
          mode_ = mode::colon;
        else
          end_value();
      }
      return true;
    }
    case mode::number: {
      const lex r = num_.step(c);
      if (r == lex::fail) return false;
      if (r == lex::more) return true;
      // the number ends here; c is what follows it
      end_value();
      return step(c);
    }
    case mode::literal:
      if (literal_[literal_at_] != static_cast<char>(c)) return false;
      if (literal_[++literal_at_] == '\0') end_value();
      return true;
  }
  return false;
}

}  // namespace kaito::engine
