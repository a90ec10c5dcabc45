// tokenizer_regex: a PCRE2 pattern (UTF + UCP, so \p{L}, \p{N} and \s are Unicode-aware) used by
// the tokenizer's Split pre-tokenizer and Replace normalizer/decoder, with the find-all semantics
// of the Oniguruma/Rust iterators HF tokenizers uses (an empty match advances one character).
//
// Thread-safety: an immutable compiled pattern; match() allocates its own match data, so one
// tokenizer_regex may be shared by threads. Copyable (shares the compiled code).
//
// Known difference: PCRE2 10.42 counts U+180E (MONGOLIAN VOWEL SEPARATOR) as \s, Oniguruma does
// not (it left White_Space in Unicode 6.3).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

class tokenizer_regex {
 public:
  // Compiles `pattern`; invalid_argument naming the byte offset of the syntax error on failure.
  static result<tokenizer_regex> compile(std::string_view pattern);
  // A pattern matching `literal` exactly (the HF `{"String": ...}` form).
  static result<tokenizer_regex> literal(std::string_view literal);
  // compile() or literal(); errors are re-worded to name the JSON `path` of the pattern.
  static result<tokenizer_regex> from_spec(std::string_view text, bool is_regex,
                                           const std::string& path);

  // Every non-overlapping match in valid UTF-8 `s`, left to right, as [begin, end) byte ranges
  // (empty matches included). resource_exhausted when PCRE2's backtracking limit is hit.
  result<std::vector<std::pair<size_t, size_t>>> find_all(std::string_view s) const;

 private:
  struct code;
  std::shared_ptr<const code> code_;
};

}  // namespace kaito::engine
