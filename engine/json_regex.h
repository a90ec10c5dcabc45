// json_regex: a JSON Schema "pattern" (ECMA-262 syntax, matched anywhere in the string as the
// specification says) compiled to a DFA over code points, for engine/schema_matcher.h to step a
// string's characters through while it is generated.
//
//   auto r = json_regex::compile("^[A-Z]{3}-\\d+$", 0, -1, "schema.pattern");
//   int32_t s = r->start();
//   s = r->next(s, 'A');          // -1: no string that goes on this way matches
//   r->accepting(s);              // the characters so far match
//
// Syntax: literals (UTF-8; a byte that is not reads as U+FFFD), '.', escapes \d \D \w \W \s \S \t
// \n \r \f \v \0 \xHH \uHHHH \u{H...} and any punctuation escaped; classes [...] and [^...] with
// ranges and those escapes; groups (...), (?:...), (?<name>...); alternatives |; quantifiers * + ?
// {n} {n,} {n,m} (and their lazy forms: the same strings); ^ at the start and $ at the end of an
// alternative (one without them matches anywhere: it is read as [\s\S]* on that side).
// Unimplemented, naming `where`: lookarounds, backreferences, \b \B, \p{...}, ^ or $ inside, and
// patterns whose DFA would pass kMaxStates states or kMaxClasses distinct character ranges. Strings
// held to a pattern are ASCII: the DFA's alphabet is printable ASCII and \b \t \n \f \r (what a
// JSON string holds in a byte or a two-byte escape; other characters never match), and a pattern no
// such string matches is unimplemented. Lengths: with min_length / max_length (a string's, in code
// points; max -1: unbounded), viable() says whether a match of an allowed length remains.
//
// Thread-safety: immutable after compile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

class json_regex {
 public:
  static constexpr int32_t kMaxStates = 1024;
  static constexpr int32_t kMaxClasses = 256;
  static constexpr int64_t kMaxLengthTable = 4096;  // lengths viable() tracks exactly

  static result<std::shared_ptr<const json_regex>> compile(std::string_view pattern,
                                                           int64_t min_length, int64_t max_length,
                                                           const std::string& where);

  int32_t start() const { return 0; }
  // The state after code point cp, or -1 when no match goes on from there (past ASCII: -1).
  int32_t next(int32_t state, uint32_t cp) const;
  bool accepting(int32_t state) const { return accept_[static_cast<size_t>(state)] != 0; }
  // Some match of state's strings can end with the string at `length` code points: a path of r
  // more characters to an accepting state with min_length <= length + r <= max_length.
  bool viable(int32_t state, int64_t length) const;
  // The whole of `text` (valid UTF-8: a JSON string's) matches within the length bounds (for
  // enum / const literals).
  bool matches(std::string_view text) const;

 private:
  friend class json_regex_builder;
  std::vector<uint32_t> bounds_;  // class i holds code points [bounds_[i], bounds_[i + 1])
  std::vector<int32_t> table_;    // state * classes + class -> state, -1 dead
  std::vector<uint8_t> accept_;
  int32_t classes_ = 0;
  int64_t min_length_ = 0, max_length_ = -1;
  int64_t reach_len_ = 0;                     // lengths r in [0, reach_len_) tracked
  std::vector<std::vector<uint64_t>> reach_;  // state -> bit r: a path of r chars to accept
};

}  // namespace kaito::engine
