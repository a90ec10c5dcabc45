// Pre-tokenizers of HF tokenizers (see tokenizer_pre_tokenizer.h); each class mirrors the Rust
// type of the same name in tokenizers/src/pre_tokenizers/.
#include "engine/tokenizer_pre_tokenizer.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <functional>

#include "engine/tokenizer_json.h"
#include "engine/tokenizer_regex.h"
#include "engine/unicode.h"

namespace kaito::engine {

using range = std::pair<size_t, size_t>;

std::vector<range> split_by_matches(size_t text_size, const std::vector<range>& matches,
                                    split_behavior behavior, bool invert) {
  // (range, is_match) covering the whole text, like HF Pattern::find_matches.
  std::vector<std::pair<range, bool>> all;
  if (text_size == 0) {
    all.push_back({{0, 0}, false});
  } else {
    size_t prev = 0;
    for (const auto& m : matches) {
      if (prev != m.first) all.push_back({{prev, m.first}, false});
      all.push_back({m, true});
      prev = m.second;
    }
    if (prev != text_size) all.push_back({{prev, text_size}, false});
  }
  if (invert) {
    for (auto& a : all) a.second = !a.second;
  }
  std::vector<range> out;
  switch (behavior) {
    case split_behavior::removed:
      for (const auto& [r, m] : all)
        if (!m) out.push_back(r);
      break;
    case split_behavior::isolated:
      for (const auto& a : all) out.push_back(a.first);
      break;
    case split_behavior::merged_with_previous: {
      bool previous_match = false;
      for (const auto& [r, m] : all) {
        if (m && !previous_match && !out.empty()) {
          out.back().second = r.second;
        } else {
          out.push_back(r);
        }
        previous_match = m;
      }
      break;
    }
    case split_behavior::merged_with_next: {
      bool previous_match = false;
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        const auto& [r, m] = *it;
        if (m && !previous_match && !out.empty()) {
          out.back().first = r.first;
        } else {
          out.push_back(r);
        }
        previous_match = m;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case split_behavior::contiguous: {
      bool previous_match = false;
      for (const auto& [r, m] : all) {
        if (m == previous_match && !out.empty()) {
          out.back().second = r.second;
        } else {
          out.push_back(r);
        }
        previous_match = m;
      }
      break;
    }
  }
  return out;
}

namespace {

using namespace tokenizer_json;
constexpr int max_depth = 32;

// Applies `fn` (one piece -> sub-pieces) to every piece, dropping empty results.
template <class Fn>
status split_each(std::vector<text_piece>& pieces, Fn&& fn) {
  std::vector<text_piece> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    std::vector<text_piece> subs;
    KAITO_TRY(fn(p, subs));
    for (auto& s : subs)
      if (!s.text.empty()) out.push_back(std::move(s));
  }
  pieces = std::move(out);
  return {};
}

void cut(const text_piece& p, const std::vector<range>& ranges, std::vector<text_piece>& out) {
  for (auto [b, e] : ranges) out.push_back({p.text.substr(b, e - b), p.origin + b});
}

// Matches of a code point predicate (each matching character is its own match).
std::vector<range> char_matches(const std::string& s, const std::function<bool(uint32_t)>& pred) {
  std::vector<range> m;
  for (size_t p = 0; p < s.size();) {
    const size_t b = p;
    if (pred(utf8_next(s, p))) m.push_back({b, p});
  }
  return m;
}

class sequence_pre_tokenizer final : public tokenizer_pre_tokenizer {
 public:
  std::vector<std::unique_ptr<tokenizer_pre_tokenizer>> parts;
  status pre_tokenize(std::vector<text_piece>& pieces) const override {
    for (const auto& p : parts) KAITO_TRY(p->pre_tokenize(pieces));
    return {};
  }
};

enum class prepend_scheme { always, first, never };

class metaspace_pre_tokenizer final : public tokenizer_pre_tokenizer {
 public:
  std::string replacement;
  uint32_t replacement_cp = 0;
  prepend_scheme scheme = prepend_scheme::always;
  bool split = true;
  status pre_tokenize(std::vector<text_piece>& pieces) const override {
    return split_each(pieces, [&](text_piece& p, std::vector<text_piece>& out) -> status {
      std::string s;
      s.reserve(p.text.size() + 8);
      for (char c : p.text) {
        if (c == ' ') {
          s += replacement;
        } else {
          s.push_back(c);
        }
      }
      const bool starts = s.compare(0, replacement.size(), replacement) == 0;
      const bool prepend =
          !s.empty() && !starts &&
          (scheme == prepend_scheme::always || (scheme == prepend_scheme::first && p.origin == 0));
      if (prepend) s.insert(0, replacement);
      text_piece whole{std::move(s), p.origin};
      if (!split) {
        out.push_back(std::move(whole));
        return {};
      }
      const uint32_t rc = replacement_cp;
      const auto m = char_matches(whole.text, [rc](uint32_t c) { return c == rc; });
      cut(whole, split_by_matches(whole.text.size(), m, split_behavior::merged_with_next, false),
          out);
      return {};
    });
  }
};

class byte_level_pre_tokenizer final : public tokenizer_pre_tokenizer {
 public:
  bool add_prefix_space = true;
  bool use_regex = true;
  tokenizer_regex gpt2;
  status pre_tokenize(std::vector<text_piece>& pieces) const override {
    KAITO_TRY(split_each(pieces, [&](text_piece& p, std::vector<text_piece>& out) -> status {
      text_piece q = p;
      if (add_prefix_space && (q.text.empty() || q.text[0] != ' ') && !q.text.empty())
        q.text.insert(0, " ");
      if (!use_regex) {
        out.push_back(std::move(q));
        return {};
      }
      KAITO_ASSIGN_OR_RETURN(auto m, gpt2.find_all(q.text));
      cut(q, split_by_matches(q.text.size(), m, split_behavior::isolated, false), out);
      return {};
    }));
    const auto& table = byte_to_unicode_table();
    for (auto& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (unsigned char c : p.text) utf8_append(mapped, table[c]);
      p.text = std::move(mapped);
    }
    return {};
  }
};

class split_pre_tokenizer final : public tokenizer_pre_tokenizer {
 public:
  tokenizer_regex pattern;
  split_behavior behavior = split_behavior::isolated;
  bool invert = false;
  status pre_tokenize(std::vector<text_piece>& pieces) const override {
    return split_each(pieces, [&](text_piece& p, std::vector<text_piece>& out) -> status {
      KAITO_ASSIGN_OR_RETURN(auto m, pattern.find_all(p.text));
      cut(p, split_by_matches(p.text.size(), m, behavior, invert), out);
      return {};
    });
  }
};

class predicate_pre_tokenizer final : public tokenizer_pre_tokenizer {
 public:
  std::function<bool(uint32_t)> pred;
  split_behavior behavior = split_behavior::isolated;
  status pre_tokenize(std::vector<text_piece>& pieces) const override {
    return split_each(pieces, [&](text_piece& p, std::vector<text_piece>& out) -> status {
      cut(p, split_by_matches(p.text.size(), char_matches(p.text, pred), behavior, false), out);
      return {};
    });
  }
};

result<split_behavior> parse_behavior(const json& j, const std::string& path) {
  KAITO_ASSIGN_OR_RETURN(const std::string b, get_string(j, "behavior", path));
  if (b == "Removed") return split_behavior::removed;
  if (b == "Isolated") return split_behavior::isolated;
  if (b == "MergedWithPrevious") return split_behavior::merged_with_previous;
  if (b == "MergedWithNext") return split_behavior::merged_with_next;
  if (b == "Contiguous") return split_behavior::contiguous;
  return invalid_argument("unknown split behavior '" + b + "'", child(path, "behavior"));
}

constexpr const char* gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace

result<std::unique_ptr<tokenizer_pre_tokenizer>> parse_tokenizer_pre_tokenizer(
    const nlohmann::json& j, const std::string& path, int depth) {
  using ptr = std::unique_ptr<tokenizer_pre_tokenizer>;
  if (depth > max_depth) return invalid_argument("pre_tokenizers nested too deeply", path);
  KAITO_TRY(expect_object(j, path));
  KAITO_ASSIGN_OR_RETURN(const std::string type, get_string(j, "type", path));
  if (type == "Sequence") {
    auto seq = std::make_unique<sequence_pre_tokenizer>();
    const json* list = member(j, "pretokenizers");
    const std::string lp = child(path, "pretokenizers");
    if (!list || !list->is_array()) return invalid_argument("expected an array", lp);
    for (size_t i = 0; i < list->size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(auto part,
                             parse_tokenizer_pre_tokenizer((*list)[i], index(lp, i), depth + 1));
      seq->parts.push_back(std::move(part));
    }
    return ptr(std::move(seq));
  }
  if (type == "Metaspace") {
    auto m = std::make_unique<metaspace_pre_tokenizer>();
    const std::string def = "\xE2\x96\x81";  // U+2581
    KAITO_ASSIGN_OR_RETURN(m->replacement, get_string(j, "replacement", path, &def));
    size_t pos = 0;
    if (m->replacement.empty() || utf8_char_size(m->replacement, 0) != m->replacement.size())
      return invalid_argument("expected a single character", child(path, "replacement"));
    m->replacement_cp = utf8_next(m->replacement, pos);
    KAITO_ASSIGN_OR_RETURN(m->split, get_bool(j, "split", path, true));
    if (member(j, "prepend_scheme")) {
      KAITO_ASSIGN_OR_RETURN(const std::string s, get_string(j, "prepend_scheme", path));
      if (s == "always") {
        m->scheme = prepend_scheme::always;
      } else if (s == "first") {
        m->scheme = prepend_scheme::first;
      } else if (s == "never") {
        m->scheme = prepend_scheme::never;
      } else {
        return invalid_argument("unknown prepend_scheme '" + s + "'",
                                child(path, "prepend_scheme"));
      }
    } else {
      KAITO_ASSIGN_OR_RETURN(const bool aps, get_bool(j, "add_prefix_space", path, true));
      m->scheme = aps ? prepend_scheme::always : prepend_scheme::never;
    }
    return ptr(std::move(m));
  }
  if (type == "ByteLevel") {
    auto b = std::make_unique<byte_level_pre_tokenizer>();
    KAITO_ASSIGN_OR_RETURN(b->add_prefix_space, get_bool(j, "add_prefix_space", path, true));
    KAITO_ASSIGN_OR_RETURN(b->use_regex, get_bool(j, "use_regex", path, true));
    KAITO_ASSIGN_OR_RETURN(b->gpt2, tokenizer_regex::compile(gpt2_pattern));
    return ptr(std::move(b));
  }
  if (type == "Split") {
    auto s = std::make_unique<split_pre_tokenizer>();
    KAITO_ASSIGN_OR_RETURN(const pattern_spec spec, get_pattern(j, "pattern", path));
    KAITO_ASSIGN_OR_RETURN(
        s->pattern, tokenizer_regex::from_spec(spec.text, spec.is_regex, child(path, "pattern")));
    KAITO_ASSIGN_OR_RETURN(s->behavior, parse_behavior(j, path));
    KAITO_ASSIGN_OR_RETURN(s->invert, get_bool(j, "invert", path, false));
    return ptr(std::move(s));
  }
  if (type == "Digits") {
    auto d = std::make_unique<predicate_pre_tokenizer>();
    KAITO_ASSIGN_OR_RETURN(const bool individual, get_bool(j, "individual_digits", path, false));
    d->behavior = individual ? split_behavior::isolated : split_behavior::contiguous;
    d->pred = [](uint32_t c) {  // Rust char::is_numeric: Nd, Nl, No
      return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0;
    };
    return ptr(std::move(d));
  }
  if (type == "WhitespaceSplit") {
    auto w = std::make_unique<predicate_pre_tokenizer>();
    w->behavior = split_behavior::removed;
    w->pred = is_unicode_whitespace;
    return ptr(std::move(w));
  }
  return status(status_code::unimplemented, "unsupported pre_tokenizer type '" + type + "'",
                child(path, "type"));
}

}  // namespace kaito::engine
