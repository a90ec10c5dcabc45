// kv_block_pool: the host side of a paged KV cache (kernels/attention.h kv_pages): which blocks
// of the pool each sequence slot holds, in position order (its row of the block table), and, with
// prefix caching, which full blocks hold which tokens so that a later sequence starting with the
// same tokens attaches them instead of computing them again (vLLM's automatic prefix caching).
//
//   kv_block_pool pool(slots, blocks, block_size, /*prefix_caching=*/true);
//   int64_t have = pool.attach_prefix(s, ids, n, lr);  // cached whole blocks of ids, < n tokens
//   auto first = pool.grow(s, n);                       // blocks for n positions (ids first..)
//   ... write positions have..n-1 into blocks_of(s) ...
//   pool.append_tokens(s, ids + have, n - have, lr);   // what the cache now holds
//   pool.release(s);                                    // the slot's blocks back
//
// A block's identity is its parent (the block before it in its sequence, or none, and that
// block's generation: a block drawn again is a new generation, so the children of an evicted
// block never match), its block_size tokens and the rope factors they were rotated with
// (longrope's short or long: `long_rope`), so a match is exact (token by token; hashes only find
// candidates), and a cached block always holds the keys and values the same prefix would compute
// again. A block is cached only when its parent is. Only full blocks
// are cached; a sequence never writes into a full block again, so attached blocks are shared
// read-only between slots, each held by a count.
// Drawing: free blocks first, then cached blocks no slot holds, least recently released first
// (their entries leave the cache). free_blocks() counts both. grow is all or none.
// Thread-safety: none (the decoder's thread).
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kaito {

class kv_block_pool {
 public:
  kv_block_pool(int64_t slots, int64_t blocks, int64_t block_size, bool prefix_caching);

  int64_t block_size() const { return block_size_; }
  int64_t blocks() const { return int64_t(info_.size()); }
  int64_t free_blocks() const { return int64_t(free_.size() + idle_.size()); }
  bool prefix_caching() const { return caching_; }
  // Blocks the slot must still draw to hold len positions.
  int64_t blocks_needed(int64_t slot, int64_t len) const;
  // The slot's blocks in position order.
  const std::vector<int32_t>& blocks_of(int64_t slot) const { return owned_[size_t(slot)]; }

  // Draws the blocks the slot needs to hold len positions (none when the pool has too few:
  // resource_exhausted, where "slot"); returns the index in blocks_of(slot) of the first new one.
  result<int64_t> grow(int64_t slot, int64_t len);
  // n tokens now in the slot's cache after the ones recorded before, rotated with long_rope's
  // factors (the slot's: the same on every call for one sequence): every block they fill joins
  // the cache (prefix caching; else nothing is kept).
  void append_tokens(int64_t slot, const int32_t* ids, int64_t n, bool long_rope);
  // On an empty slot: attaches the cached blocks holding the longest prefix of ids[0..n) in whole
  // blocks, fewer than n tokens (the last token is always computed, for its logits); returns how
  // many tokens they hold (0 without prefix caching or a match).
  int64_t attach_prefix(int64_t slot, const int32_t* ids, int64_t n, bool long_rope);
  // Of the blocks attach_prefix(ids, n, long_rope) would attach now, those some slot holds (the
  // others are idle, counted in free_blocks()): what attaching spares the free count. Changes
  // nothing.
  int64_t held_prefix_blocks(const int32_t* ids, int64_t n, bool long_rope) const;
  // The slot's blocks back (a cached block stays cached until it is drawn again).
  void release(int64_t slot);
  // Blocks holding cached tokens (held by a slot or idle).
  int64_t cached_blocks() const { return int64_t(by_hash_.size()); }

 private:
  struct block {
    int32_t refs = 0;     // slots holding it
    bool cached = false;  // in by_hash_
    uint64_t hash = 0;    // of (parent, tokens, long_rope), when cached
    int32_t parent = -1;  // the block before it, when cached
    uint32_t parent_gen = 0;
    uint32_t gen = 0;  // times drawn
    bool long_rope = false;
    uint64_t released = 0;        // when refs last went to 0 (idle_'s order)
    std::vector<int32_t> tokens;  // when cached
  };
  int32_t draw();  // a free block, else the least recently released idle one (uncached)
  uint64_t hash_of(int32_t parent, uint32_t parent_gen, const int32_t* ids, bool long_rope) const;
  // The cached block with this identity; -1: none.
  int32_t find(int32_t parent, uint32_t parent_gen, const int32_t* ids, bool long_rope) const;
  // The cached blocks holding the longest prefix of ids[0..n) in whole blocks, fewer than n
  // tokens, in order (what attach_prefix attaches).
  std::vector<int32_t> cached_prefix(const int32_t* ids, int64_t n, bool long_rope) const;

  int64_t block_size_;
  bool caching_;
  std::vector<block> info_;
  std::vector<int32_t> free_;                    // uncached, no refs (a stack)
  std::set<std::pair<uint64_t, int32_t>> idle_;  // cached, no refs: (released, id)
  std::unordered_multimap<uint64_t, int32_t> by_hash_;
  std::vector<std::vector<int32_t>> owned_;   // per slot
  std::vector<std::vector<int32_t>> tokens_;  // per slot, with prefix caching
  uint64_t clock_ = 0;
};

}  // namespace kaito
