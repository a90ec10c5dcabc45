// token_filter; see token_filter.h.
#include "engine/token_filter.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <utility>

#include "base/check.h"
#include "engine/tokenizer_stream.h"

namespace kaito::engine {

std::shared_ptr<const vocab_bytes> vocab_bytes::from_tokenizer(const tokenizer& tok,
                                                               int64_t vocab) {
  auto out = std::make_shared<vocab_bytes>();
  const auto V = static_cast<size_t>(std::max<int64_t>(vocab, 0));
  out->special.assign(V, false);
  // An ordinary token to decode after: "a" when the tokenizer has it as one token, else none.
  int32_t before = -1;
  if (auto a = tok.encode("a", false); a.ok() && a->size() == 1) before = (*a)[0];
  std::vector<int32_t> ids(V);
  for (size_t i = 0; i < V; ++i) {
    ids[i] = static_cast<int32_t>(i);
    out->special[i] = tok.is_special(static_cast<int32_t>(i)) || !tok.id_to_token(ids[i]);
  }
  out->text = token_texts_after(tok, before, ids);
  out->index();
  return out;
}

namespace {

bool plain_byte(unsigned char c) {
  return c != '"' && c != '\\' && c >= 0x20;
}
int32_t starts_char(unsigned char c) {
  return c < 0x80 || c >= 0xc0 ? 1 : 0;
}

}  // namespace

void vocab_bytes::index() {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size(); ++i)
    if (!text[i].empty() && !(i < special.size() && special[i]))
      ids.push_back(static_cast<int32_t>(i));
  // the trie from the texts in byte order: each text shares its path with the one before as far
  // as their common prefix goes
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return std::make_pair(text[static_cast<size_t>(a)], a) <
           std::make_pair(text[static_cast<size_t>(b)], b);
  });
  trie.assign(1, trie_node{});
  trie_ids = ids;
  std::vector<int32_t> parent(1, -1), last_child(1, -1), path(1, 0);
  const std::string* prev = nullptr;
  for (size_t k = 0; k < ids.size(); ++k) {
    const std::string& t = text[static_cast<size_t>(ids[k])];
    size_t common = 0;
    if (prev)
      while (common < prev->size() && common < t.size() && (*prev)[common] == t[common]) ++common;
    path.resize(common + 1);
    for (size_t d = common; d < t.size(); ++d) {
      const auto node = static_cast<int32_t>(trie.size());
      const int32_t up = path[d];
      trie.push_back(trie_node{});
      trie.back().byte = static_cast<unsigned char>(t[d]);
      parent.push_back(up);
      last_child.push_back(-1);
      if (last_child[static_cast<size_t>(up)] >= 0)
        trie[static_cast<size_t>(last_child[static_cast<size_t>(up)])].next_sibling = node;
      else
        trie[static_cast<size_t>(up)].first_child = node;
      last_child[static_cast<size_t>(up)] = node;
      path.push_back(node);
    }
    trie_node& end = trie[static_cast<size_t>(path[t.size()])];
    if (end.ids_end == 0) end.ids_begin = static_cast<int32_t>(k);  // (ids of one text: adjacent)
    end.ids_end = static_cast<int32_t>(k + 1);
    for (size_t d = 0; d <= t.size(); ++d) {  // (a subtree's texts are adjacent too)
      trie_node& on = trie[static_cast<size_t>(path[d])];
      if (d > common || (d == 0 && k == 0)) on.sub_begin = static_cast<int32_t>(k);
      on.sub_end = static_cast<int32_t>(k + 1);
    }
    prev = &t;
  }
  // below_plain and below_chars upward (a child comes after its parent)
  for (size_t n = trie.size(); n-- > 1;) {
    const trie_node& node = trie[n];
    trie_node& up = trie[static_cast<size_t>(parent[n])];
    up.below_plain = up.below_plain && node.below_plain && plain_byte(node.byte);
    up.below_chars = std::max(up.below_chars, node.below_chars + starts_char(node.byte));
  }
}

namespace {

bool is_in(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The states after a plain run of so many characters and one byte more, from one state.
template <class State>
struct after_run {
  struct entry {
    int64_t chars;
    unsigned char byte;
    std::optional<State> state;  // none: the byte is refused there
  };
  std::deque<entry> entries;  // (few: the counts and bytes met below one state; stable refs)
  entry& find(int64_t chars, unsigned char byte, bool& fresh) {
    for (entry& e : entries)
      if (e.chars == chars && e.byte == byte) {
        fresh = false;
        return e;
      }
    fresh = true;
    return entries.emplace_back(entry{chars, byte, std::nullopt});
  }
};

// Marks in `ok` the tokens below trie node `at` whose bytes `state` takes after `pending`.
// pending: bytes on the way down not fed yet: plain ones inside a string, which only add
// characters (state.plain_room() of them at most: room; the state after them depends on their
// count alone), so the walk goes on without a copy of the state until a byte that is not plain
// (the state after it kept in `memo` by count and byte: `"` after "ab" and after "xy" is one
// state), and a subtree of plain bytes that fit is marked whole without a walk.
template <class State>
void walk(const vocab_bytes& vocab, int32_t at, const State& state, int64_t room,
          std::string& pending, int64_t pending_chars, after_run<State>& memo,
          std::vector<char>& ok) {
  auto mark = [&](int32_t begin, int32_t end) {
    for (int32_t k = begin; k < end; ++k) {
      const auto id = static_cast<size_t>(vocab.trie_ids[static_cast<size_t>(k)]);
      if (id < ok.size()) ok[id] = 1;
    }
  };
  for (int32_t c = vocab.trie[static_cast<size_t>(at)].first_child; c >= 0;
       c = vocab.trie[static_cast<size_t>(c)].next_sibling) {
    const vocab_bytes::trie_node& n = vocab.trie[static_cast<size_t>(c)];
    if (room >= 0 && plain_byte(n.byte)) {  // it only extends the string
      const int64_t chars = pending_chars + starts_char(n.byte);
      if (chars > room) continue;
      if (n.below_plain && chars + n.below_chars <= room) {
        mark(n.sub_begin, n.sub_end);
        continue;
      }
      mark(n.ids_begin, n.ids_end);
      pending.push_back(static_cast<char>(n.byte));
      walk(vocab, c, state, room, pending, chars, memo, ok);
      pending.pop_back();
      continue;
    }
    bool fresh = false;
    auto& e = memo.find(pending_chars, n.byte, fresh);
    if (fresh) {
      State s = state;
      pending.push_back(static_cast<char>(n.byte));
      if (s.try_feed(pending)) e.state.emplace(std::move(s));
      pending.pop_back();
    }
    if (!e.state) continue;
    mark(n.ids_begin, n.ids_end);
    if (n.first_child < 0) continue;
    std::string below;
    after_run<State> below_memo;
    walk(vocab, c, *e.state, e.state->plain_room(), below, 0, below_memo, ok);
  }
}

// Masks the tokens `state` (json_prefix or schema_matcher) cannot take next; the end tokens go
// only once its text is whole, and all of them when nothing else can come.
template <class State>
void mask_tokens(const State& state, const vocab_bytes& vocab, const std::vector<int32_t>& end,
                 std::vector<float>& logits) {
  const size_t V = std::min(logits.size(), vocab.text.size());
  std::vector<char> ok(V, 0);
  KAITO_CHECK(!vocab.trie.empty(), "vocab_bytes::index() was not called");
  std::string pending;
  after_run<State> memo;
  walk(vocab, 0, state, state.plain_room(), pending, 0, memo, ok);
  ok.resize(logits.size(), 0);
  const bool whole = state.complete();
  for (int32_t id : end)
    if (id >= 0 && static_cast<size_t>(id) < ok.size()) ok[static_cast<size_t>(id)] = whole;
  bool any = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (ok[i])
      any = true;
    else
      logits[i] = -INFINITY;
  }
  if (any) return;
  for (int32_t id : end)  // nothing can continue: let it end
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] = 0.0f;
}

template <class State>
void advance_state(State& state, const vocab_bytes& vocab, const std::vector<int32_t>& end,
                   int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= vocab.text.size() || is_in(end, id)) return;
  (void)state.feed(vocab.text[static_cast<size_t>(id)]);
}

}  // namespace

json_token_filter::json_token_filter(std::shared_ptr<const vocab_bytes> vocab,
                                     std::vector<int32_t> end_tokens, int max_whitespace)
    : vocab_(std::move(vocab)),
      end_(std::move(end_tokens)),
      state_(/*object_only=*/true, max_whitespace) {}

void json_token_filter::mask(std::vector<float>& logits) const {
  mask_tokens(state_, *vocab_, end_, logits);
}

void json_token_filter::advance(int32_t id) {
  advance_state(state_, *vocab_, end_, id);
}

schema_token_filter::schema_token_filter(std::shared_ptr<const vocab_bytes> vocab,
                                         std::vector<int32_t> end_tokens,
                                         std::shared_ptr<const json_schema> schema,
                                         int max_whitespace)
    : vocab_(std::move(vocab)),
      end_(std::move(end_tokens)),
      schema_(std::move(schema)),
      state_(*schema_, max_whitespace) {}

void schema_token_filter::mask(std::vector<float>& logits) const {
  mask_tokens(state_, *vocab_, end_, logits);
}

void schema_token_filter::advance(int32_t id) {
  advance_state(state_, *vocab_, end_, id);
}

void min_tokens_filter::mask(std::vector<float>& logits) const {
  if (inner_) inner_->mask(logits);
  if (drawn_ >= min_) return;
  // the stop ids go only when some other token stays allowed (no copy of the V logits per step)
  const auto is_stop = [&](size_t i) {
    return std::find(stops_.begin(), stops_.end(), static_cast<int32_t>(i)) != stops_.end();
  };
  bool other = false;
  for (size_t i = 0; i < logits.size() && !other; ++i) other = logits[i] > -INFINITY && !is_stop(i);
  if (!other) return;
  for (int32_t id : stops_)
    if (id >= 0 && static_cast<size_t>(id) < logits.size())
      logits[static_cast<size_t>(id)] = -INFINITY;
}

void min_tokens_filter::advance(int32_t id) {
  if (inner_) inner_->advance(id);
  ++drawn_;
}

}  // namespace kaito::engine
