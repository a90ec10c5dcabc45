// schema_matcher: the bytes of arrays and objects (keys, commas, closers); see schema_matcher.h.
#include "engine/schema_matcher.h"

#include <utility>

namespace kaito::engine {

namespace {

using node = schema_node;

bool any_unseen(uint64_t seen, uint32_t a, uint32_t b) {
  for (uint32_t j = a; j < b; ++j)
    if (!(seen >> j & 1)) return true;
  return false;
}

}  // namespace

bool schema_matcher::can_add_key(const frame& f) const {
  const node& n = schema_->node(f.node);
  return n.additional != node::kNone || any_unseen(f.seen, 0, static_cast<uint32_t>(n.keys.size()));
}

void schema_matcher::in_array(thread& t, unsigned char c, std::vector<thread>& out) const {
  frame& f = t.stack.back();
  const node& n = schema_->node(f.node);
  if (c == ']') {
    if (f.count < n.min_items) return;
    finish(t);
    out.push_back(std::move(t));
    return;
  }
  const bool first = f.ph == phase::first;
  if (!first && c != ',') return;
  if (n.max_items >= 0 && f.count >= n.max_items) return;
  const int32_t item = n.item_node(f.count);
  if (item == node::kNone) return;
  f.ph = phase::value;
  frame v;
  v.node = item;
  t.stack.push_back(v);
  if (first)
    start_value(std::move(t), c, out);  // c starts the first item
  else
    out.push_back(std::move(t));
}

bool schema_matcher::in_key(frame& f, unsigned char c) const {
  const node& n = schema_->node(f.node);
  const bool declared = f.lo < f.hi && n.keys[f.lo].size() == f.pos;  // the text is keys[lo]
  bool close = false;
  if (f.free_key) {
    bool new_char = false;
    const lex r = f.str.step(c, new_char);
    if (r == lex::fail) return false;
    close = r == lex::closed;
  } else {
    close = c == '"' && declared && !(f.seen >> f.lo & 1);
  }
  if (close) {
    if (declared) {
      if (f.seen >> f.lo & 1) return false;  // a key may not come twice
      f.seen |= uint64_t{1} << f.lo;
      f.value_node = n.key_nodes[f.lo];
    } else {
      f.value_node = n.additional;
    }
    f.ph = phase::colon;
    return true;
  }
  const auto [a, b] = narrow(n.keys, f.lo, f.hi, f.pos, c);
  if (!f.free_key && !any_unseen(f.seen, a, b)) return false;
  f.lo = a;
  f.hi = b;
  ++f.pos;
  return true;
}

void schema_matcher::in_object(thread& t, unsigned char c, std::vector<thread>& out) const {
  frame& f = t.stack.back();
  const node& n = schema_->node(f.node);
  auto begin_key = [&] {
    f.ph = phase::key;
    f.pos = f.lo = 0;
    f.hi = static_cast<uint32_t>(n.keys.size());
    f.free_key = n.additional != node::kNone;
    f.str = json_string_lexer{};
  };
  switch (f.ph) {
    case phase::first:
    case phase::after:
      if (c == '}') {
        if ((f.seen & n.required) != n.required) return;
        finish(t);
        break;
      }
      if (f.ph == phase::first ? c != '"' : c != ',') return;
      if (!can_add_key(f)) return;
      if (c == '"')
        begin_key();
      else
        f.ph = phase::next;
      break;
    case phase::next:
      if (c != '"') return;
      begin_key();
      break;
    case phase::key:
      if (!in_key(f, c)) return;
      break;
    case phase::colon: {
      if (c != ':') return;
      f.ph = phase::value;
      frame v;
      v.node = f.value_node;
      t.stack.push_back(v);
      break;
    }
    case phase::value:
      return;  // (the value's frame is on top)
  }
  out.push_back(std::move(t));
}

}  // namespace kaito::engine
