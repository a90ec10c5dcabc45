// schema_compiler: which values can end, and leaving out the rest (json_schema_compiler.h).
#include "engine/json_schema_compiler.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace kaito::engine {

using namespace schema_detail;

// leaves_: what each node's value follows; a cycle of references or anyOf with nothing in
// between would never start a value.
status schema_compiler::find_leaves() {
  const size_t N = out_.nodes_.size();
  out_.leaves_.assign(N, {});
  std::vector<uint8_t> state(N, 0);  // 0 new, 1 on the path, 2 done
  std::function<status(int32_t)> visit = [&](int32_t i) -> status {
    const auto u = static_cast<size_t>(i);
    if (state[u] == 2) return {};
    if (state[u] == 1)
      return invalid_argument(
          "the schema refers to itself with no value in between ($ref or anyOf "
          "cycle)",
          where_);
    state[u] = 1;
    const node& n = out_.nodes_[u];
    std::vector<int32_t> leaves;
    if (n.any_of.empty()) leaves.push_back(i);
    for (int32_t a : n.any_of) {
      KAITO_TRY(visit(a));
      for (int32_t l : out_.leaves_[static_cast<size_t>(a)])
        if (std::find(leaves.begin(), leaves.end(), l) == leaves.end()) leaves.push_back(l);
    }
    out_.leaves_[u] = std::move(leaves);
    state[u] = 2;
    return {};
  };
  for (size_t i = 0; i < N; ++i) KAITO_TRY(visit(static_cast<int32_t>(i)));
  return {};
}

// sat_: the least fixpoint of "admits a finite value", and for leaves which types do.
uint8_t schema_compiler::sat_types(const node& n) const {
  auto ok = [&](int32_t i) { return i != node::kNone && sat_[static_cast<size_t>(i)]; };
  uint8_t t = n.types & (node::t_null | node::t_boolean);
  const bool exclusive = n.num_min_exclusive || n.num_max_exclusive;
  if (n.types & node::t_number && (!n.has_num_min || !n.has_num_max || n.num_min < n.num_max ||
                                   (n.num_min == n.num_max && !exclusive)))
    t |= node::t_number;
  if (n.types & node::t_integer && (!n.has_minimum || !n.has_maximum || n.minimum <= n.maximum))
    t |= node::t_integer;
  if (n.types & node::t_string && (n.max_length < 0 || n.min_length <= n.max_length))
    t |= node::t_string;
  if (n.types & node::t_array && (n.max_items < 0 || n.min_items <= n.max_items)) {
    bool all = true;
    const int64_t need =
        std::min<int64_t>(n.min_items, static_cast<int64_t>(n.prefix_items.size()) + 1);
    for (int64_t i = 0; i < need && all; ++i) all = ok(n.item_node(i));
    if (all) t |= node::t_array;
  }
  if (n.types & node::t_object) {
    bool all = true;
    for (size_t j = 0; j < n.keys.size() && all; ++j)
      if (n.required >> j & 1) all = ok(n.key_nodes[j]);
    if (all) t |= node::t_object;
  }
  return t;
}

void schema_compiler::prove_finite() {
  const size_t N = out_.nodes_.size();
  sat_.assign(N, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < N; ++i) {
      if (sat_[i]) continue;
      bool s = false;
      for (int32_t l : out_.leaves_[i]) {
        const node& n = out_.nodes_[static_cast<size_t>(l)];
        s = s || (n.literal_only ? !n.literals.empty() : sat_types(n) != 0);
      }
      if (s) sat_[i] = changed = true;
    }
  }
}

// Leave out what admits nothing, so the matcher never starts a value it cannot end.
void schema_compiler::prune() {
  auto ok = [&](int32_t i) { return i != node::kNone && sat_[static_cast<size_t>(i)]; };
  for (size_t i = 0; i < out_.nodes_.size(); ++i) {
    auto& leaves = out_.leaves_[i];
    std::erase_if(leaves, [&](int32_t l) { return !sat_[static_cast<size_t>(l)]; });
    node& n = out_.nodes_[i];
    if (!n.any_of.empty() || n.literal_only) continue;
    n.types = sat_types(n);
    for (int64_t k = 0; k <= static_cast<int64_t>(n.prefix_items.size()); ++k)
      if (!ok(n.item_node(k))) {
        n.max_items = n.max_items < 0 ? k : std::min(n.max_items, k);
        break;
      }
    if (!ok(n.additional)) n.additional = node::kNone;
    node kept = n;
    kept.keys.clear();
    kept.key_nodes.clear();
    kept.required = 0;
    for (size_t j = 0; j < n.keys.size(); ++j) {
      if (!ok(n.key_nodes[j])) continue;  // (a required one made the object type unsatisfiable)
      if (n.required >> j & 1) kept.required |= uint64_t{1} << kept.keys.size();
      kept.keys.push_back(n.keys[j]);
      kept.key_nodes.push_back(n.key_nodes[j]);
    }
    n = std::move(kept);
  }
}

}  // namespace kaito::engine
