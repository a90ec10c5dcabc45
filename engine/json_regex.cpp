// json_regex; see json_regex.h. The pattern is parsed to a small syntax tree, built into a
// Thompson NFA over sets of code-point ranges, and determinized over the ranges' partition.
#include "engine/json_regex.h"

#include <algorithm>
#include <map>
#include <utility>

#include "engine/json_regex_syntax.h"
#include "engine/unicode.h"

namespace kaito::engine {

namespace {

using regex_syntax::ast;
using regex_syntax::range;
using regex_syntax::ranges;
constexpr uint32_t kMaxAscii = 0x7F;
// The characters a pattern's string is written in: printable ASCII and the control characters
// with a two-byte escape (\b \t \n \f \r); the others would need \u, which it does not take.
const std::vector<std::pair<uint32_t, uint32_t>> kWritable = {
    {0x08, 0x0A}, {0x0C, 0x0D}, {0x20, kMaxAscii}};
constexpr size_t kMaxNfa = 4000;
constexpr int64_t kMaxWork = 20000000;  // steps of the subset construction and the length table

struct nfa {
  struct state {
    std::vector<int32_t> eps;
    int32_t set = -1, to = -1;
  };
  std::vector<state> states;
  std::vector<ranges> sets;
  bool too_big = false;

  int32_t add() {
    if (states.size() >= kMaxNfa) too_big = true;
    states.emplace_back();
    return static_cast<int32_t>(states.size() - 1);
  }
  // The fragment of a from a new state to a new state; returns {start, end}.
  std::pair<int32_t, int32_t> build(const ast& a) {
    const int32_t s = add(), e = add();
    if (too_big) return {s, e};
    switch (a.kind) {
      case ast::empty:
        states[size_t(s)].eps.push_back(e);
        break;
      case ast::set: {
        ranges ascii;  // the DFA's alphabet: ASCII a JSON string can hold in one or two bytes
        for (const range& x : a.chars)
          for (const range& w : kWritable)
            if (x.first <= w.second && w.first <= x.second)
              ascii.push_back({std::max(x.first, w.first), std::min(x.second, w.second)});
        sets.push_back(std::move(ascii));
        states[size_t(s)].set = static_cast<int32_t>(sets.size() - 1);
        states[size_t(s)].to = e;
        break;
      }
      case ast::concat: {
        int32_t at = s;
        for (const ast& p : a.parts) {
          const auto [ps, pe] = build(p);
          states[size_t(at)].eps.push_back(ps);
          at = pe;
        }
        states[size_t(at)].eps.push_back(e);
        break;
      }
      case ast::alt:
        for (const ast& p : a.parts) {
          const auto [ps, pe] = build(p);
          states[size_t(s)].eps.push_back(ps);
          states[size_t(pe)].eps.push_back(e);
        }
        break;
      case ast::repeat: {
        int32_t at = s;
        for (int64_t i = 0; i < a.min && !too_big; ++i) {
          const auto [ps, pe] = build(a.parts[0]);
          states[size_t(at)].eps.push_back(ps);
          at = pe;
        }
        if (a.max < 0) {  // then any number more
          const auto [ps, pe] = build(a.parts[0]);
          states[size_t(at)].eps.push_back(ps);
          states[size_t(pe)].eps.push_back(ps);
          states[size_t(pe)].eps.push_back(e);
        } else {
          for (int64_t i = a.min; i < a.max && !too_big; ++i) {  // each optional
            const auto [ps, pe] = build(a.parts[0]);
            states[size_t(at)].eps.push_back(ps);
            states[size_t(at)].eps.push_back(e);
            at = pe;
          }
        }
        states[size_t(at)].eps.push_back(e);
        break;
      }
    }
    return {s, e};
  }

  std::vector<int32_t> closure(std::vector<int32_t> set) const {
    std::vector<uint8_t> in(states.size(), 0);
    for (int32_t x : set) in[size_t(x)] = 1;
    for (size_t i = 0; i < set.size(); ++i)
      for (int32_t y : states[size_t(set[i])].eps)
        if (!in[size_t(y)]) {
          in[size_t(y)] = 1;
          set.push_back(y);
        }
    std::sort(set.begin(), set.end());
    return set;
  }
};

}  // namespace

class json_regex_builder {
 public:
  static result<std::shared_ptr<const json_regex>> build(std::string_view pattern,
                                                         int64_t min_length, int64_t max_length,
                                                         const std::string& where) {
    KAITO_ASSIGN_OR_RETURN(ast tree, regex_syntax::parse(pattern, where));
    auto too_complex = [&] {
      return status(status_code::unimplemented,
                    "pattern: too complex for constrained generation (more than " +
                        std::to_string(json_regex::kMaxStates) + " states or " +
                        std::to_string(json_regex::kMaxClasses) + " character ranges)",
                    where);
    };
    nfa n;
    const auto [start, end] = n.build(tree);
    if (n.too_big) return too_complex();
    // the partition of the code points by every set's edges
    std::vector<uint32_t> b = {0, kMaxAscii + 1};
    for (const ranges& r : n.sets)
      for (const range& x : r) {
        b.push_back(x.first);
        b.push_back(x.second + 1);
      }
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    auto re = std::make_shared<json_regex>();
    re->bounds_ = b;
    re->classes_ = static_cast<int32_t>(b.size() - 1);
    if (re->classes_ > json_regex::kMaxClasses) return too_complex();
    const auto C = static_cast<size_t>(re->classes_);
    // which classes each set holds
    std::vector<std::vector<uint8_t>> holds(n.sets.size(), std::vector<uint8_t>(C, 0));
    for (size_t k = 0; k < n.sets.size(); ++k)
      for (const range& x : n.sets[k]) {
        const size_t from = size_t(std::lower_bound(b.begin(), b.end(), x.first) - b.begin());
        const size_t to = size_t(std::lower_bound(b.begin(), b.end(), x.second + 1) - b.begin());
        for (size_t c = from; c < to; ++c) holds[k][c] = 1;
      }
    // subset construction
    std::map<std::vector<int32_t>, int32_t> ids;
    std::vector<std::vector<int32_t>> dstates;
    auto id_of = [&](std::vector<int32_t> set) -> int32_t {
      auto [it, fresh] = ids.emplace(std::move(set), static_cast<int32_t>(dstates.size()));
      if (fresh) dstates.push_back(it->first);
      return it->second;
    };
    id_of(n.closure({start}));
    int64_t work = 0;
    for (size_t d = 0; d < dstates.size(); ++d) {
      work += static_cast<int64_t>(dstates[d].size() * C);
      if (dstates.size() > size_t(json_regex::kMaxStates) || work > kMaxWork) return too_complex();
      std::vector<std::vector<int32_t>> moves(C);
      for (int32_t s : dstates[d]) {
        const nfa::state& st = n.states[size_t(s)];
        if (st.set < 0) continue;
        for (size_t c = 0; c < C; ++c)
          if (holds[size_t(st.set)][c]) moves[c].push_back(st.to);
      }
      re->accept_.push_back(std::binary_search(dstates[d].begin(), dstates[d].end(), end));
      for (size_t c = 0; c < C; ++c) {
        if (moves[c].empty()) {
          re->table_.push_back(-1);
          continue;
        }
        std::vector<int32_t> next = n.closure(std::move(moves[c]));
        work += static_cast<int64_t>(next.size());
        re->table_.push_back(id_of(std::move(next)));
      }
    }
    if (dstates.size() > size_t(json_regex::kMaxStates)) return too_complex();
    re->min_length_ = min_length;
    re->max_length_ = max_length;
    KAITO_TRY(trim(*re, where));
    return std::shared_ptr<const json_regex>(std::move(re));
  }

 private:
  // Transitions into states that cannot reach an accepting one (within the lengths) become -1;
  // with lengths, reach_ says which path lengths to acceptance each state has.
  static status trim(json_regex& re, const std::string& where) {
    const auto S = re.accept_.size(), C = size_t(re.classes_);
    std::vector<uint8_t> live(re.accept_.begin(), re.accept_.end());
    for (bool grew = true; grew;) {
      grew = false;
      for (size_t s = 0; s < S; ++s)
        for (size_t c = 0; c < C && !live[s]; ++c) {
          const int32_t t = re.table_[s * C + c];
          if (t >= 0 && live[size_t(t)]) live[s] = grew = true;
        }
    }
    for (int32_t& t : re.table_)
      if (t >= 0 && !live[size_t(t)]) t = -1;
    if (re.min_length_ > 0 || re.max_length_ >= 0) {
      const int64_t R =
          re.max_length_ >= 0 ? re.max_length_ + 1 : re.min_length_ + static_cast<int64_t>(S) + 1;
      if (R > json_regex::kMaxLengthTable)
        return status(status_code::unimplemented,
                      "pattern: with minLength / maxLength past " +
                          std::to_string(json_regex::kMaxLengthTable) +
                          " characters is not implemented in constrained generation",
                      where);
      re.reach_len_ = R;
      const size_t words = size_t((R + 63) / 64);
      re.reach_.assign(S, std::vector<uint64_t>(words, 0));
      std::vector<std::vector<int32_t>> succ(S);  // distinct successors
      int64_t edges = 0;
      for (size_t s = 0; s < S; ++s) {
        for (size_t c = 0; c < C; ++c)
          if (const int32_t t = re.table_[s * C + c]; t >= 0) succ[s].push_back(t);
        std::sort(succ[s].begin(), succ[s].end());
        succ[s].erase(std::unique(succ[s].begin(), succ[s].end()), succ[s].end());
        edges += static_cast<int64_t>(succ[s].size());
        if (re.accept_[s]) re.reach_[s][0] |= 1;
      }
      if (edges * R > kMaxWork)
        return status(status_code::unimplemented,
                      "pattern: too complex with minLength / maxLength for constrained generation",
                      where);
      for (int64_t r = 1; r < R; ++r)
        for (size_t s = 0; s < S; ++s)
          for (int32_t t : succ[s])
            if (re.reach_[size_t(t)][size_t(r - 1) / 64] >> ((r - 1) % 64) & 1) {
              re.reach_[s][size_t(r) / 64] |= uint64_t{1} << (r % 64);
              break;
            }
    }
    if (!live[0] || !re.viable(0, 0))
      return status(status_code::unimplemented,
                    "pattern: no ASCII string" +
                        std::string(re.reach_len_ ? " of the lengths allowed" : "") +
                        " matches it (a pattern's strings are written in ASCII here)",
                    where);
    return {};
  }
};

result<std::shared_ptr<const json_regex>> json_regex::compile(std::string_view pattern,
                                                              int64_t min_length,
                                                              int64_t max_length,
                                                              const std::string& where) {
  return json_regex_builder::build(pattern, min_length, max_length, where);
}

int32_t json_regex::next(int32_t state, uint32_t cp) const {
  if (state < 0 || cp > kMaxAscii) return -1;
  const auto c = std::upper_bound(bounds_.begin(), bounds_.end(), cp) - bounds_.begin() - 1;
  return table_[size_t(state) * size_t(classes_) + size_t(c)];
}

bool json_regex::viable(int32_t state, int64_t length) const {
  if (state < 0) return false;
  if (reach_len_ == 0) return true;  // (no lengths: every state left is live)
  const int64_t lo = std::max<int64_t>(0, min_length_ - length);
  const int64_t hi = std::min<int64_t>(
      max_length_ >= 0 ? max_length_ - length : lo + static_cast<int64_t>(accept_.size()),
      reach_len_ - 1);
  const std::vector<uint64_t>& bits = reach_[size_t(state)];
  for (int64_t r = lo; r <= hi; ++r)
    if (bits[size_t(r) / 64] >> (r % 64) & 1) return true;
  return false;
}

bool json_regex::matches(std::string_view text) const {
  int32_t s = start();
  int64_t length = 0;
  for (size_t i = 0; i < text.size();) {
    s = next(s, utf8_next(text, i));
    if (!viable(s, ++length)) return false;
  }
  return accepting(s) && length >= min_length_ && (max_length_ < 0 || length <= max_length_);
}

}  // namespace kaito::engine
