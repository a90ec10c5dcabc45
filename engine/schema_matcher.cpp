// schema_matcher; see schema_matcher.h.
#include "engine/schema_matcher.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace kaito::engine {

namespace {

using node = schema_node;
using i128 = __int128;

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

constexpr const char* kWords[] = {"true", "false", "null"};

}  // namespace

// The candidates in [lo, hi) of sorted texts sharing their first `pos` bytes whose byte `pos`
// is c (they are contiguous).
std::pair<uint32_t, uint32_t> schema_matcher::narrow(const std::vector<std::string>& v, uint32_t lo,
                                                     uint32_t hi, uint32_t pos, unsigned char c) {
  auto has = [&](uint32_t j) {
    return v[j].size() > pos && static_cast<unsigned char>(v[j][pos]) == c;
  };
  uint32_t a = lo;
  while (a < hi && !has(a)) ++a;
  uint32_t b = a;
  while (b < hi && has(b)) ++b;
  return {a, b};
}

schema_matcher::schema_matcher(const json_schema& schema, int max_whitespace)
    : schema_(&schema), max_ws_(max_whitespace) {
  thread t;
  frame f;
  f.node = schema.root();
  t.stack.push_back(f);
  threads_.push_back(std::move(t));
}

bool schema_matcher::step(unsigned char c) {
  scratch_.clear();
  for (thread& t : threads_) advance(std::move(t), c, scratch_);
  threads_.swap(scratch_);
  scratch_.clear();           // (what is left was moved from; the capacity stays for the next byte)
  if (threads_.size() > 1) {  // anyOf branches that met again are one
    size_t kept = 0;
    for (size_t i = 0; i < threads_.size(); ++i)
      if (std::find(threads_.begin(), threads_.begin() + static_cast<std::ptrdiff_t>(kept),
                    threads_[i]) == threads_.begin() + static_cast<std::ptrdiff_t>(kept)) {
        if (kept != i) threads_[kept] = std::move(threads_[i]);
        ++kept;
      }
    threads_.resize(kept);
  }
  // Each thread can end on its own (json_schema proved every value it starts can), so keeping the
  // first kMaxThreads only narrows the choice among anyOf branches: no dead end, and the work per
  // byte stays bounded whatever a schema nests.
  if (threads_.size() > kMaxThreads) threads_.resize(kMaxThreads);
  return !threads_.empty();
}

bool schema_matcher::feed(unsigned char c) {
  std::vector<thread> before = threads_;
  if (step(c)) return true;
  threads_ = std::move(before);
  return false;
}

bool schema_matcher::feed(std::string_view s) {
  std::vector<thread> before = threads_;
  if (try_feed(s)) return true;
  threads_ = std::move(before);
  return false;
}

bool schema_matcher::try_feed(std::string_view s) {
  for (char c : s)
    if (!step(static_cast<unsigned char>(c))) return false;
  return true;
}

bool schema_matcher::ends_here(const frame& f) const {
  if (f.k == kind::number) return f.num.whole() && in_bounds(f);
  if (f.k == kind::literal) return schema_->node(f.node).literals[f.lo].size() == f.pos;
  return false;
}

bool schema_matcher::complete() const {
  for (const thread& t : threads_)
    if (t.stack.empty() || (t.stack.size() == 1 && ends_here(t.stack[0]))) return true;
  return false;
}

int64_t schema_matcher::plain_room() const {
  int64_t best = -1;
  for (const thread& t : threads_) {  // (a thread elsewhere would take other bytes otherwise)
    if (t.stack.empty()) return -1;
    const frame& f = t.stack.back();
    if (f.k != kind::string || !f.str.plain() || schema_->node(f.node).pattern) return -1;
    const int64_t max = schema_->node(f.node).max_length;
    best = std::max(best, max < 0 ? INT64_MAX : max - f.count);
  }
  return best;
}

bool schema_matcher::pattern_step(const schema_node& n, frame& f, unsigned char c, int32_t cp) {
  const json_regex& re = *n.pattern;
  if (cp >= 0) {
    f.re = re.next(f.re, static_cast<uint32_t>(cp));
    return re.viable(f.re, f.count);
  }
  if (c != '\\') return false;  // a byte of a longer character, or of a \u escape
  for (const char e : {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'})  // the escape to come
    if (re.viable(re.next(f.re, static_cast<unsigned char>(e)), f.count)) return true;
  return false;
}

void schema_matcher::finish(thread& t) {
  const kind k = t.stack.back().k;
  if (k == kind::object || k == kind::array) --t.depth;
  t.stack.pop_back();
  if (t.stack.empty()) return;
  frame& p = t.stack.back();
  if (p.k == kind::array) ++p.count;
  p.ph = phase::after;
}

bool schema_matcher::in_bounds(const frame& f) const {
  const node& n = schema_->node(f.node);
  if (n.has_num_min || n.has_num_max) {  // compared as the double a client reads
    const double v = static_cast<double>(f.num.negative() ? -f.num.value() : f.num.value());
    return (!n.has_num_min || (n.num_min_exclusive ? v > n.num_min : v >= n.num_min)) &&
           (!n.has_num_max || (n.num_max_exclusive ? v < n.num_max : v <= n.num_max));
  }
  if (!(n.has_minimum || n.has_maximum) || !f.num.in_integer()) return true;
  const i128 m = static_cast<i128>(f.num.magnitude());
  const i128 v = f.num.negative() ? -m : m;
  return (!n.has_minimum || v >= n.minimum) && (!n.has_maximum || v <= n.maximum);
}

bool schema_matcher::bounds_viable(const frame& f) const {
  const node& n = schema_->node(f.node);
  if (n.has_num_min || n.has_num_max) return number_viable(f);
  if (!(n.has_minimum || n.has_maximum)) return true;
  if (f.num.has_digits() && !f.num.in_integer()) return true;  // (bounds are on integers only)
  const i128 lo = n.has_minimum ? i128(n.minimum) : -(i128(1) << 100);
  const i128 hi = n.has_maximum ? i128(n.maximum) : (i128(1) << 100);
  if (!f.num.has_digits()) return std::min<i128>(hi, -1) >= lo;  // a lone '-'
  if (f.num.zero()) return lo <= 0 && 0 <= hi;
  // the integers whose digits start with these: [m * 10^k, (m + 1) * 10^k - 1], k >= 0
  const i128 m = static_cast<i128>(f.num.magnitude());
  for (i128 p = 1;; p *= 10) {
    const i128 a = m * p, b = (m + 1) * p - 1;
    const i128 vlo = f.num.negative() ? -b : a, vhi = f.num.negative() ? -a : b;
    if (vlo <= hi && vhi >= lo) return true;
    if (a > (i128(1) << 64)) return false;
  }
}

bool schema_matcher::number_viable(const frame& f) const {
  // compared as doubles, as the bounds are and as a client reads the number (0.3 written is the
  // bound 0.3, not the long double nearer to three tenths)
  const node& n = schema_->node(f.node);
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = n.has_num_min ? n.num_min : -inf, hi = n.has_num_max ? n.num_max : inf;
  const bool neg = f.num.negative();
  // some value whose magnitude is in [a, b) (b not reached) is within the bounds
  auto fits = [&](long double la, long double lb) {
    const auto a = static_cast<double>(la), b = static_cast<double>(lb);
    if (!neg) return (a < hi || (a == hi && !n.num_max_exclusive)) && b > lo;
    return (-a > lo || (-a == lo && !n.num_min_exclusive)) && -b < hi;
  };
  if (!f.num.has_digits()) return fits(0, inf);  // a lone '-'
  const long double v = f.num.value();
  if (f.num.in_fraction())
    return fits(v, v + std::pow(10.0L, -static_cast<long double>(f.num.fraction_digits())));
  if (f.num.zero()) return fits(0, 1);
  // more integer digits may come: [v * 10^k, (v + 1) * 10^k), k >= 0
  for (long double p = 1; std::isfinite(static_cast<double>(v * p)); p *= 10) {
    if (fits(v * p, (v + 1) * p)) return true;
    if ((!neg && v * p > hi) || (neg && -v * p < lo)) return false;
  }
  return false;
}

void schema_matcher::advance(thread t, unsigned char c, std::vector<thread>& out) const {
  if (t.stack.empty()) {  // the value ended: one whitespace byte may follow
    if (is_space(c) && t.ws < std::min(max_ws_, 1)) {
      ++t.ws;
      out.push_back(std::move(t));
    }
    return;
  }
  frame& f = t.stack.back();
  const bool structural =
      f.k == kind::value || f.k == kind::array || (f.k == kind::object && f.ph != phase::key);
  if (structural && is_space(c)) {
    if (t.ws >= (t.depth == 0 ? std::min(max_ws_, 1) : max_ws_)) return;
    ++t.ws;
    out.push_back(std::move(t));
    return;
  }
  t.ws = 0;
  const node& n = schema_->node(f.node);
  switch (f.k) {
    case kind::value:
      start_value(std::move(t), c, out);
      return;
    case kind::object:
      in_object(t, c, out);
      return;
    case kind::array:
      in_array(t, c, out);
      return;
    case kind::string: {
      bool new_char = false;
      int32_t cp = -1;
      const lex r = f.str.step(c, new_char, cp);
      if (r == lex::fail) return;
      if (r == lex::closed) {
        if (f.count < n.min_length || (n.pattern && !n.pattern->accepting(f.re))) return;
        finish(t);
      } else {
        if (new_char) {
          if (n.max_length >= 0 && f.count >= n.max_length) return;
          ++f.count;
        }
        if (n.pattern && !pattern_step(n, f, c, cp)) return;
      }
      out.push_back(std::move(t));
      return;
    }
    case kind::number: {
      const lex r = f.num.step(c);
      if (r == lex::fail || (r == lex::more && !bounds_viable(f))) return;
      if (r == lex::more) {
        out.push_back(std::move(t));
        return;
      }
      if (!in_bounds(f)) return;  // it ended out of bounds
      finish(t);
      advance(std::move(t), c, out);  // c is the container's
      return;
    }
    case kind::literal: {
      const auto [a, b] = narrow(n.literals, f.lo, f.hi, f.pos, c);
      if (a < b) {
        f.lo = a;
        f.hi = b;
        ++f.pos;
        out.push_back(std::move(t));
      } else if (n.literals[f.lo].size() == f.pos) {
        finish(t);
        advance(std::move(t), c, out);
      }
      return;
    }
    case kind::word: {
      const char* w = kWords[f.word];
      if (static_cast<unsigned char>(w[f.pos]) != c) return;
      if (w[++f.pos] == '\0') finish(t);
      out.push_back(std::move(t));
      return;
    }
  }
}

void schema_matcher::start_value(thread t, unsigned char c, std::vector<thread>& out) const {
  const std::vector<int32_t>& leaves = schema_->leaves(t.stack.back().node);
  for (size_t i = 0; i < leaves.size(); ++i) {
    const node& n = schema_->node(leaves[i]);
    thread u = i + 1 == leaves.size() ? std::move(t) : t;
    frame& f = u.stack.back();
    f = frame{};
    f.node = leaves[i];
    if (n.literal_only) {
      const auto [a, b] = narrow(n.literals, 0, static_cast<uint32_t>(n.literals.size()), 0, c);
      if (a == b) continue;
      f.k = kind::literal;
      f.lo = a;
      f.hi = b;
      f.pos = 1;
      out.push_back(std::move(u));
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        if (!(n.types & (c == '{' ? node::t_object : node::t_array)) || u.depth >= kMaxDepth)
          continue;
        f.k = c == '{' ? kind::object : kind::array;
        ++u.depth;
        break;
      case '"':
        if (!(n.types & node::t_string)) continue;
        f.k = kind::string;
        break;
      case 't':
      case 'f':
      case 'n':
        if (!(n.types & (c == 'n' ? node::t_null : node::t_boolean))) continue;
        f.k = kind::word;
        f.word = c == 't' ? 0 : c == 'f' ? 1 : 2;
        f.pos = 1;
        break;
      default:
        if (!(n.types & (node::t_integer | node::t_number))) continue;
        if (!f.num.begin(c, !(n.types & node::t_number), n.has_num_min || n.has_num_max)) continue;
        f.k = kind::number;
        if (!bounds_viable(f)) continue;
        break;
    }
    out.push_back(std::move(u));
  }
}

}  // namespace kaito::engine
