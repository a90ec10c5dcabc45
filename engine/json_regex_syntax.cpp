// json_regex_syntax; see json_regex_syntax.h.
#include "engine/json_regex_syntax.h"

#include <algorithm>

#include "engine/unicode.h"

namespace kaito::engine::regex_syntax {

namespace {

ranges normalized(ranges r) {
  std::sort(r.begin(), r.end());
  ranges out;
  for (const range& x : r) {
    if (!out.empty() && x.first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, x.second);
    else
      out.push_back(x);
  }
  return out;
}

ranges negated(const ranges& r) {
  ranges out;
  uint32_t from = 0;
  for (const range& x : normalized(r)) {
    if (x.first > from) out.push_back({from, x.first - 1});
    from = x.second + 1;
  }
  if (from <= kMaxCode) out.push_back({from, kMaxCode});
  return out;
}

const ranges kDigit = {{'0', '9'}};
const ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMA-262's WhiteSpace and LineTerminator
const ranges kSpace = {{0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                       {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                       {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const ranges kLineEnds = {{0x0A, 0x0A}, {0x0D, 0x0D}, {0x2028, 0x2029}};

class parser {
 public:
  parser(std::string_view p, const std::string& where) : where_(where) {
    // the pattern as code points (invalid UTF-8 as U+FFFD; a JSON string's never is)
    const std::string text = utf8_sanitize(p);
    for (size_t i = 0; i < text.size();) cps_.push_back(utf8_next(text, i));
  }

  // The whole pattern: alternatives, each matched anywhere unless anchored by ^ / $.
  result<ast> whole() {
    ast top{ast::alt};
    do {
      bool start = false, end = false;
      if (peek('^')) {
        ++at_;
        start = true;
      }
      KAITO_ASSIGN_OR_RETURN(ast body, sequence(&end));
      ast a{ast::concat};
      if (!start) a.parts.push_back(anything());
      a.parts.push_back(std::move(body));
      if (!end) a.parts.push_back(anything());
      top.parts.push_back(std::move(a));
    } while (eat('|'));
    if (at_ < cps_.size()) return bad("unmatched ')'");
    return top;
  }

 private:
  bool peek(uint32_t c) const { return at_ < cps_.size() && cps_[at_] == c; }
  bool eat(uint32_t c) {
    if (!peek(c)) return false;
    ++at_;
    return true;
  }
  status bad(const std::string& what) const {
    return invalid_argument("pattern: " + what + " at character " + std::to_string(at_), where_);
  }
  status unsupported(const std::string& what) const {
    return status(status_code::unimplemented,
                  "pattern: " + what + " (at character " + std::to_string(at_) +
                      ") is not implemented in constrained generation",
                  where_);
  }
  static ast anything() {
    ast any{ast::set};
    any.chars = {{0, kMaxCode}};
    ast star{ast::repeat};
    star.parts.push_back(std::move(any));
    return star;
  }

  // Items up to '|', ')' or the end; at the top level (end != nullptr) a '$' just before '|' or
  // the end anchors it.
  result<ast> sequence(bool* end) {
    ast seq{ast::concat};
    while (at_ < cps_.size() && !peek('|') && !peek(')')) {
      if (peek('$')) {
        ++at_;
        if (end && (at_ == cps_.size() || peek('|'))) {
          *end = true;
          break;
        }
        --at_;
        return unsupported("'$' inside the pattern");
      }
      if (peek('^')) return unsupported("'^' inside the pattern");
      KAITO_ASSIGN_OR_RETURN(ast a, atom());
      KAITO_ASSIGN_OR_RETURN(ast q, quantified(std::move(a)));
      seq.parts.push_back(std::move(q));
    }
    return seq;
  }

  // {n}, {n,}, {n,m} at at_ (after '{'): true with the counts, false (at_ unchanged) when it is no
  // quantifier ('{' is then a literal, as ECMA-262's Annex B reads it).
  bool counts(int64_t& lo, int64_t& hi) {
    const size_t from = at_;
    auto number = [&](int64_t& v) {
      const size_t s = at_;
      v = 0;
      while (at_ < cps_.size() && cps_[at_] >= '0' && cps_[at_] <= '9' && v < 100000)
        v = v * 10 + (cps_[at_++] - '0');
      return at_ > s;
    };
    if (!number(lo)) return at_ = from, false;
    hi = lo;
    if (eat(',')) {
      hi = -1;
      if (!peek('}') && !number(hi)) return at_ = from, false;
    }
    if (!eat('}')) return at_ = from, false;
    return true;
  }

  result<ast> quantified(ast a) {
    for (;;) {
      int64_t lo = 0, hi = -1;
      if (eat('*')) {
      } else if (eat('+')) {
        lo = 1;
      } else if (eat('?')) {
        hi = 1;
      } else if (peek('{')) {
        ++at_;
        if (!counts(lo, hi)) {
          --at_;
          return a;
        }
        if (hi >= 0 && hi < lo) return bad("{n,m} with m < n");
        if (lo > 1000 || hi > 1000) return unsupported("a count over 1000");
      } else {
        return a;
      }
      eat('?');  // lazy: the same strings
      ast r{ast::repeat};
      r.min = lo;
      r.max = hi;
      r.parts.push_back(std::move(a));
      a = std::move(r);
    }
  }

  result<ast> atom() {
    const uint32_t c = cps_[at_++];
    ast s{ast::set};
    switch (c) {
      case '(': {
        if (eat('?')) {
          if (eat(':')) {
          } else if (peek('<') && at_ + 1 < cps_.size() && cps_[at_ + 1] != '=' &&
                     cps_[at_ + 1] != '!') {
            while (at_ < cps_.size() && cps_[at_] != '>') ++at_;  // a named group
            if (!eat('>')) return bad("unclosed group name");
          } else {
            return unsupported("a lookaround or inline flag");
          }
        }
        ast inner{ast::alt};
        do {
          KAITO_ASSIGN_OR_RETURN(ast a, sequence(nullptr));
          inner.parts.push_back(std::move(a));
        } while (eat('|'));
        if (!eat(')')) return bad("unclosed '('");
        return inner;
      }
      case '[':
        return klass();
      case '.':
        s.chars = negated(kLineEnds);
        return s;
      case '\\': {
        KAITO_ASSIGN_OR_RETURN(s.chars, escape(false));
        return s;
      }
      case '*':
      case '+':
      case '?':
        --at_;
        return bad("nothing to repeat");
      case ')':
        --at_;
        return bad("unmatched ')'");
      default:
        s.chars = {{c, c}};
        return s;
    }
  }

  result<uint32_t> hex(int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (at_ >= cps_.size()) return bad("short hexadecimal escape");
      const uint32_t d = cps_[at_++];
      const int x = d >= '0' && d <= '9'   ? int(d - '0')
                    : d >= 'a' && d <= 'f' ? int(d - 'a' + 10)
                    : d >= 'A' && d <= 'F' ? int(d - 'A' + 10)
                                           : -1;
      if (x < 0) return bad("bad hexadecimal digit");
      v = v * 16 + uint32_t(x);
    }
    return v;
  }

  // After '\\': the characters it stands for (in_class: \b is a backspace there).
  result<ranges> escape(bool in_class) {
    if (at_ >= cps_.size()) return bad("'\\' at the end");
    const uint32_t c = cps_[at_++];
    auto one = [](uint32_t x) { return ranges{{x, x}}; };
    switch (c) {
      case 'd':
        return kDigit;
      case 'D':
        return negated(kDigit);
      case 'w':
        return kWord;
      case 'W':
        return negated(kWord);
      case 's':
        return kSpace;
      case 'S':
        return negated(kSpace);
      case 't':
        return one('\t');
      case 'n':
        return one('\n');
      case 'r':
        return one('\r');
      case 'f':
        return one('\f');
      case 'v':
        return one('\v');
      case '0':
        return one(0);
      case 'x': {
        KAITO_ASSIGN_OR_RETURN(uint32_t v, hex(2));
        return one(v);
      }
      case 'u': {
        if (eat('{')) {
          uint32_t v = 0;
          int n = 0;
          while (at_ < cps_.size() && !peek('}') && n++ < 6) {
            KAITO_ASSIGN_OR_RETURN(uint32_t d, hex(1));
            v = v * 16 + d;
          }
          if (!eat('}') || n == 0 || v > kMaxCode) return bad("bad \\u{...}");
          return one(v);
        }
        KAITO_ASSIGN_OR_RETURN(uint32_t v, hex(4));
        return one(v);
      }
      case 'b':
        if (in_class) return one('\b');
        return unsupported("\\b (a word boundary)");
      default:
        if ((c >= '1' && c <= '9') || c == 'k') return unsupported("a backreference");
        if (c == 'B' || c == 'p' || c == 'P' || c == 'c')
          return unsupported(std::string("\\") + char(c));
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
          return bad(std::string("unknown escape \\") + char(c));
        return one(c);  // escaped punctuation (or any other character) stands for itself
    }
  }

  // After '[': a class.
  result<ast> klass() {
    const bool negate = eat('^');
    ranges r;
    while (at_ < cps_.size() && !peek(']')) {  // ("[]" holds nothing, "[^]" everything)
      ranges lo_set;
      uint32_t c = cps_[at_++];
      if (c == '\\') {
        KAITO_ASSIGN_OR_RETURN(lo_set, escape(true));
      } else {
        lo_set = {{c, c}};
      }
      // a range "a-z" (a class escape or a '-' at either end is a literal '-')
      if (lo_set.size() == 1 && lo_set[0].first == lo_set[0].second && peek('-') &&
          at_ + 1 < cps_.size() && cps_[at_ + 1] != ']') {
        ++at_;
        uint32_t hi = cps_[at_++];
        if (hi == '\\') {
          KAITO_ASSIGN_OR_RETURN(ranges h, escape(true));
          if (h.size() != 1 || h[0].first != h[0].second) return bad("a class escape ends a range");
          hi = h[0].first;
        }
        if (hi < lo_set[0].first) return bad("a range out of order");
        r.push_back({lo_set[0].first, hi});
        continue;
      }
      r.insert(r.end(), lo_set.begin(), lo_set.end());
    }
    if (!eat(']')) return bad("unclosed '['");
    ast s{ast::set};
    s.chars = negate ? negated(r) : normalized(r);
    return s;
  }

  std::vector<uint32_t> cps_;
  size_t at_ = 0;
  const std::string& where_;
};

// A Thompson NFA: each state has epsilon edges and at most one set edge.

}  // namespace

result<ast> parse(std::string_view pattern, const std::string& where) {
  parser p(pattern, where);
  return p.whole();
}

}  // namespace kaito::engine::regex_syntax
