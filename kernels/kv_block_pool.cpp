// kv_block_pool; see kv_block_pool.h.
#include "kernels/kv_block_pool.h"

#include <algorithm>
#include <string>

namespace kaito {

kv_block_pool::kv_block_pool(int64_t slots, int64_t blocks, int64_t block_size, bool prefix_caching)
    : block_size_(std::max<int64_t>(block_size, 1)),
      caching_(prefix_caching),
      info_(size_t(std::max<int64_t>(blocks, 0))),
      owned_(size_t(std::max<int64_t>(slots, 0))),
      tokens_(size_t(std::max<int64_t>(slots, 0))) {
  for (int64_t i = blocks - 1; i >= 0; --i) free_.push_back(int32_t(i));  // 0 drawn first
}

int64_t kv_block_pool::blocks_needed(int64_t slot, int64_t len) const {
  const int64_t want = (std::max<int64_t>(len, 0) + block_size_ - 1) / block_size_;
  return std::max<int64_t>(0, want - int64_t(owned_[size_t(slot)].size()));
}

int32_t kv_block_pool::draw() {
  int32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {  // the least recently released cached block leaves the cache
    id = idle_.begin()->second;
    idle_.erase(idle_.begin());
    block& b = info_[size_t(id)];
    for (auto [it, end] = by_hash_.equal_range(b.hash); it != end; ++it)
      if (it->second == id) {
        by_hash_.erase(it);
        break;
      }
    b.cached = false;
    b.tokens.clear();
  }
  info_[size_t(id)].refs = 1;
  ++info_[size_t(id)].gen;
  return id;
}

result<int64_t> kv_block_pool::grow(int64_t slot, int64_t len) {
  std::vector<int32_t>& mine = owned_[size_t(slot)];
  const int64_t first = int64_t(mine.size()), need = blocks_needed(slot, len);
  if (need > free_blocks())
    return status(status_code::resource_exhausted,
                  "the KV cache pool is full: slot " + std::to_string(slot) + " needs " +
                      std::to_string(need) + " more blocks of " + std::to_string(block_size_) +
                      " positions, " + std::to_string(free_blocks()) + " of " +
                      std::to_string(blocks()) + " are free",
                  "slot");
  for (int64_t i = 0; i < need; ++i) mine.push_back(draw());
  return first;
}

uint64_t kv_block_pool::hash_of(int32_t parent, uint32_t parent_gen, const int32_t* ids,
                                bool long_rope) const {
  uint64_t h = 1469598103934665603ull ^ (uint64_t(uint32_t(parent)) << 32) ^ parent_gen ^
               (long_rope ? 0x9e3779b97f4a7c15ull : 0u);
  for (int64_t i = 0; i < block_size_; ++i) {  // FNV-1a over the ids
    h ^= uint64_t(uint32_t(ids[i]));
    h *= 1099511628211ull;
  }
  return h;
}

int32_t kv_block_pool::find(int32_t parent, uint32_t parent_gen, const int32_t* ids,
                            bool long_rope) const {
  for (auto [it, end] = by_hash_.equal_range(hash_of(parent, parent_gen, ids, long_rope));
       it != end; ++it) {
    const block& b = info_[size_t(it->second)];
    if (b.parent == parent && b.parent_gen == parent_gen && b.long_rope == long_rope &&
        std::equal(b.tokens.begin(), b.tokens.end(), ids))
      return it->second;
  }
  return -1;
}

void kv_block_pool::append_tokens(int64_t slot, const int32_t* ids, int64_t n, bool long_rope) {
  if (!caching_) return;
  std::vector<int32_t>& toks = tokens_[size_t(slot)];
  const int64_t before = int64_t(toks.size()) / block_size_;
  toks.insert(toks.end(), ids, ids + n);
  const std::vector<int32_t>& mine = owned_[size_t(slot)];
  const int64_t full = std::min(int64_t(toks.size()) / block_size_, int64_t(mine.size()));
  for (int64_t i = before; i < full; ++i) {
    const int32_t id = mine[size_t(i)];
    block& b = info_[size_t(id)];
    const int32_t parent = i > 0 ? mine[size_t(i - 1)] : -1;
    if (parent >= 0 && !info_[size_t(parent)].cached) break;  // (no lookup could reach it)
    const uint32_t pgen = parent >= 0 ? info_[size_t(parent)].gen : 0;
    const int32_t* block_ids = toks.data() + i * block_size_;
    if (b.cached || find(parent, pgen, block_ids, long_rope) >= 0)
      continue;  // (one copy is enough)
    b.cached = true;
    b.parent = parent;
    b.parent_gen = pgen;
    b.long_rope = long_rope;
    b.tokens.assign(block_ids, block_ids + block_size_);
    b.hash = hash_of(parent, pgen, block_ids, long_rope);
    by_hash_.emplace(b.hash, id);
  }
}

int64_t kv_block_pool::attach_prefix(int64_t slot, const int32_t* ids, int64_t n, bool long_rope) {
  std::vector<int32_t>& mine = owned_[size_t(slot)];
  if (!caching_ || !mine.empty() || n < 1) return 0;
  for (int32_t id : cached_prefix(ids, n, long_rope)) {
    block& b = info_[size_t(id)];
    if (b.refs++ == 0) idle_.erase({b.released, id});
    mine.push_back(id);
  }
  const int64_t have = int64_t(mine.size()) * block_size_;
  tokens_[size_t(slot)].assign(ids, ids + have);
  return have;
}

std::vector<int32_t> kv_block_pool::cached_prefix(const int32_t* ids, int64_t n,
                                                  bool long_rope) const {
  std::vector<int32_t> chain;
  int32_t parent = -1;
  for (int64_t i = 0; (i + 1) * block_size_ < n; ++i) {  // whole blocks before the last token
    const uint32_t pgen = parent >= 0 ? info_[size_t(parent)].gen : 0;
    const int32_t id = find(parent, pgen, ids + i * block_size_, long_rope);
    if (id < 0) break;
    chain.push_back(id);
    parent = id;
  }
  return chain;
}

int64_t kv_block_pool::held_prefix_blocks(const int32_t* ids, int64_t n, bool long_rope) const {
  if (!caching_) return 0;
  int64_t held = 0;
  for (int32_t id : cached_prefix(ids, n, long_rope)) held += info_[size_t(id)].refs > 0;
  return held;
}

void kv_block_pool::release(int64_t slot) {
  for (int32_t id : owned_[size_t(slot)]) {
    block& b = info_[size_t(id)];
    if (--b.refs > 0) continue;
    if (b.cached) {
      b.released = ++clock_;
      idle_.insert({b.released, id});
    } else {
      free_.push_back(id);
    }
  }
  owned_[size_t(slot)].clear();
  tokens_[size_t(slot)].clear();
}

}  // namespace kaito
