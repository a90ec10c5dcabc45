// schema_matcher: a byte-at-a-time recognizer of the texts of JSON values a json_schema admits,
// for constrained generation: it says whether a text so far can still grow into such a value
// (and never lets one in that cannot: json_schema proved every value can end), and whether it is
// one now.
//
//   auto s = json_schema::parse(R"({"enum": ["red", "green"]})", "schema");
//   schema_matcher m(*s);
//   m.feed("\"gr");   // true
//   m.feed("x");      // false (and m is unchanged)
//   m.complete();     // false until "\"green\""
//
// The text is JSON as json_prefix.h reads it (the same string, number and whitespace rules: at
// most max_whitespace bytes of it in a row inside the value, one before and one after), and the
// value is what the schema admits: types, enum/const texts, required and known keys (keys are
// matched as written, JSON-escaped as nlohmann writes them; a key may not come twice), item
// counts, string lengths, integer bounds. anyOf branches are followed side by side until the
// text tells them apart (a set of threads, each a stack of frames; the first kMaxThreads kept).
// Containers nest at most kMaxDepth deep.
//
// Thread-safety: a value type; copies are independent (a token filter tries each token on a
// copy). The json_schema must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/json_lexer.h"
#include "engine/json_schema.h"

namespace kaito::engine {

class schema_matcher {
 public:
  static constexpr int kMaxDepth = 64;
  // anyOf branches followed side by side (as many as the tools a forced call may choose from,
  // protocol/api/chat_tools.h)
  static constexpr size_t kMaxThreads = 128;
  explicit schema_matcher(const json_schema& schema, int max_whitespace = 16);

  // Appends c: true when the text can still grow into an admitted value; false (no change)
  // otherwise.
  bool feed(unsigned char c);
  // Every byte of s, all or nothing.
  bool feed(std::string_view s);
  // The same without keeping the state to go back to: on false the matcher is spent (for a
  // copy made to try a token on).
  bool try_feed(std::string_view s);
  // The text so far is an admitted value (trailing whitespace allowed).
  bool complete() const;
  // Inside a string where bytes other than '"', '\\' and control characters just extend it (every
  // thread is in one): how many characters they may add (INT64_MAX: any; the state after them
  // depends on their count alone); -1 otherwise.
  int64_t plain_room() const;
  size_t threads() const { return threads_.size(); }

 private:
  enum class kind : uint8_t { value, object, array, string, number, literal, word };
  enum class phase : uint8_t { first, next, key, colon, value, after };
  struct frame {
    kind k = kind::value;
    phase ph = phase::first;
    bool free_key = false;  // object: a key not among `keys` may come (additionalProperties)
    uint8_t word = 0;       // word: 0 true, 1 false, 2 null
    int32_t node = 0;
    int32_t value_node = 0;            // object: the schema of the value after the key
    int64_t count = 0;                 // array: items; string: characters
    int32_t re = 0;                    // string with a pattern: its DFA's state
    uint64_t seen = 0;                 // object: keys that came
    uint32_t lo = 0, hi = 0, pos = 0;  // object key / literal: candidates [lo, hi), bytes matched
    json_string_lexer str;             // string, a free key
    json_number_lexer num;             // number
    bool operator==(const frame&) const = default;
  };
  struct thread {
    std::vector<frame> stack;  // empty: the value ended
    int ws = 0;                // whitespace bytes in a row
    int depth = 0;             // objects and arrays open
    bool operator==(const thread&) const = default;
  };

  bool step(unsigned char c);  // on false threads_ is empty
  void advance(thread t, unsigned char c, std::vector<thread>& out) const;
  void start_value(thread t, unsigned char c, std::vector<thread>& out) const;
  void in_object(thread& t, unsigned char c, std::vector<thread>& out) const;
  void in_array(thread& t, unsigned char c, std::vector<thread>& out) const;
  bool in_key(frame& f, unsigned char c) const;
  // The top frame's value ended: pop it, and its container takes note.
  static void finish(thread& t);
  bool can_add_key(const frame& f) const;
  // The candidates in [lo, hi) of sorted texts sharing their first `pos` bytes whose byte `pos`
  // is c (they are contiguous).
  static std::pair<uint32_t, uint32_t> narrow(const std::vector<std::string>& v, uint32_t lo,
                                              uint32_t hi, uint32_t pos, unsigned char c);
  // Some number the number so far starts is within the node's bounds (integers: exactly, as
  // int128; other numbers: in long double, from the plain decimal so far).
  bool bounds_viable(const frame& f) const;
  bool number_viable(const frame& f) const;
  bool in_bounds(const frame& f) const;  // the number so far is within them
  bool ends_here(const frame& f) const;  // a number or literal frame could end before the next byte
  // A string's byte c (code point cp, -1 when it completes none) under the node's pattern: its
  // characters are ASCII, an escape's first byte must lead to some match.
  static bool pattern_step(const schema_node& n, frame& f, unsigned char c, int32_t cp);

  const json_schema* schema_;
  int max_ws_;
  std::vector<thread> threads_;
  std::vector<thread> scratch_;  // step's next threads (empty between steps)
};

}  // namespace kaito::engine
