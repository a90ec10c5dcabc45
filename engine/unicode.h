// UTF-8 and Unicode helpers for the tokenizer: lossy UTF-8 repair, code point iteration, the
// Unicode White_Space and word-character predicates, normalization forms and lower-casing (ICU),
// and GPT-2's byte <-> printable-character map used by byte-level BPE.
//
// Thread-safety: free functions without shared mutable state (ICU normalizer instances are
// process-wide, immutable singletons). All strings are UTF-8 byte strings; offsets are in bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::engine {

inline constexpr uint32_t replacement_char = 0xFFFD;

// Replaces every invalid UTF-8 sequence by U+FFFD, one per maximal subpart (the Unicode
// "best practice" that Rust's String::from_utf8_lossy and Python's bytes.decode('utf-8',
// 'replace') both follow). Valid input is returned unchanged.
std::string utf8_sanitize(std::string_view bytes);
bool utf8_is_valid(std::string_view bytes);

// Decodes the code point at `pos` of VALID UTF-8 and advances `pos` past it.
uint32_t utf8_next(std::string_view s, size_t& pos);
// Byte length of the code point starting at `pos` of valid UTF-8 (1 when pos is past the end).
size_t utf8_char_size(std::string_view s, size_t pos);
// Appends the UTF-8 encoding of `cp` (which must be a scalar value) to `out`.
void utf8_append(std::string& out, uint32_t cp);
// The code point that ends at byte `end` (exclusive) of valid UTF-8; `end` must be > 0.
uint32_t utf8_last_before(std::string_view s, size_t end, size_t* start = nullptr);

// Unicode White_Space (Rust char::is_whitespace).
bool is_unicode_whitespace(uint32_t cp);
// A regex \w character in Rust's Unicode sense: Alphabetic, Mark, Decimal_Number,
// Connector_Punctuation or Join_Control.
bool is_word_char(uint32_t cp);
// General category Mark (Mn, Mc, Me).
bool is_combining_mark(uint32_t cp);

enum class normal_form { nfc, nfd, nfkc, nfkd };
// Normalizes valid UTF-8. Fails (internal) only when ICU fails.
result<std::string> unicode_normalize(std::string_view s, normal_form form);
// Full Unicode lower-casing code point by code point (Rust char::to_lowercase, which HF's
// Lowercase normalizer applies per character: no final-sigma context).
result<std::string> unicode_lowercase(std::string_view s);

// GPT-2 bytes_to_unicode: each byte maps to one printable code point; and the inverse (-1 for
// code points that are not the image of a byte).
const std::array<uint32_t, 256>& byte_to_unicode_table();
int unicode_to_byte(uint32_t cp);

}  // namespace kaito::engine
