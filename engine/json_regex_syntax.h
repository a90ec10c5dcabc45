// json_regex_syntax: a pattern's syntax tree (engine-internal, json_regex.h's compile): the
// ECMA-262 subset json_regex.h lists, read into sets of code-point ranges, sequences,
// alternatives and repeats; each alternative of the whole pattern not anchored by ^ / $ gets
// [\s\S]* on that side (JSON Schema matches a pattern anywhere).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kaito::engine::regex_syntax {

using range = std::pair<uint32_t, uint32_t>;  // inclusive
using ranges = std::vector<range>;
constexpr uint32_t kMaxCode = 0x10FFFF;

struct ast {
  enum kind_t { set, concat, alt, repeat, empty } kind = empty;
  ranges chars;               // set
  std::vector<ast> parts;     // concat, alt; repeat: one
  int64_t min = 0, max = -1;  // repeat; max -1: unbounded
};

// invalid_argument for a malformed pattern, unimplemented for what json_regex cannot hold; both
// name `where` and the character's index.
result<ast> parse(std::string_view pattern, const std::string& where);

}  // namespace kaito::engine::regex_syntax
