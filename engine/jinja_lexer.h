// jinja_lexer: splits a Jinja template into text and tag tokens with jinja2's whitespace rules as
// transformers configures them (trim_blocks and lstrip_blocks on, `-`/`+` modifiers, comments,
// {% raw %}, newline normalization, one trailing newline dropped), and lexes the expressions
// inside tags (names, strings with Python escapes, numbers, operators).
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

struct jinja_token {
  enum class kind {
    text,
    var_begin,
    var_end,
    block_begin,
    block_end,
    name,
    string,
    integer,
    floating,
    op,
    eof
  };
  kind type = kind::eof;
  std::string text;  // text, name, decoded string, operator
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1, column = 1;
};

// Tokenizes `source`. invalid_argument with "line:column" for an unterminated tag, comment or
// string, or a character no expression can hold.
result<std::vector<jinja_token>> jinja_lex(std::string_view source);

}  // namespace kaito::engine
