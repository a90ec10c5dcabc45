// The CPU engine's prefix cache across requests; see idle_kv_cache.h.
#include "engine/idle_kv_cache.h"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace kaito::engine {

namespace {

// Whether a starts with all of b.
bool starts_with(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return a.size() >= b.size() && std::equal(b.begin(), b.end(), a.begin());
}

}  // namespace

void idle_kv_cache::put(uint64_t lora, std::vector<int32_t> ids, kv_cache cache) {
  if (ids.empty() || int64_t(ids.size()) != cache.len || cache.len > max_tokens_) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->lora != lora) {
      ++it;
    } else if (starts_with(it->ids, ids)) {
      return;                                // already held, or more
    } else if (starts_with(ids, it->ids)) {  // covered by the new one
      tokens_ -= it->cache.len;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& k : cache.k) k.shrink_to_fit();  // (a grown cache's spare capacity is not kept)
  for (auto& v : cache.v) v.shrink_to_fit();
  tokens_ += cache.len;
  entries_.push_front({lora, std::move(ids), std::move(cache)});
  trim(max_tokens_);
}

int64_t idle_kv_cache::take_prefix(uint64_t lora, const int32_t* ids, int64_t n, int64_t rope_len,
                                   kv_cache& into) {
  if (n < 2 || into.len != 0) return 0;
  auto best = entries_.end();
  int64_t m = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->lora != lora) continue;                          // keys of other weights
    if (needs_reprefill(c_, it->cache, rope_len)) continue;  // other longrope factors
    const int64_t limit = std::min<int64_t>(n - 1, it->cache.len);
    int64_t k = 0;
    while (k < limit && it->ids[size_t(k)] == ids[k]) ++k;
    if (k > m) m = k, best = it;
  }
  if (m == 0) return 0;
  copy_cache_prefix(c_, best->cache, m, into);
  entries_.splice(entries_.begin(), entries_, best);
  return m;
}

void idle_kv_cache::trim(int64_t room) {
  room = std::max<int64_t>(room, 0);
  while (tokens_ > room && !entries_.empty()) {
    tokens_ -= entries_.back().cache.len;
    entries_.pop_back();
  }
}

}  // namespace kaito::engine
