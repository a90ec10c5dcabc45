// kv_block_pool (kernels/kv_block_pool.h): blocks drawn and returned per slot, all or none; with
// prefix caching, full blocks found again by their tokens, shared between slots, kept after
// release until drawn again (least recently released first), and never matched once their
// parent was drawn for other tokens; the rope factors and a different token anywhere before a
// block keep it from matching.
#include "kernels/kv_block_pool.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kaito {
namespace {

std::vector<int32_t> iota(int32_t from, int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

// Fills the slot with ids as a prefill would: grow, then record the tokens.
void fill(kv_block_pool& p, int64_t slot, const std::vector<int32_t>& ids, bool lr = false) {
  ASSERT_TRUE(p.grow(slot, int64_t(ids.size())).ok());
  p.append_tokens(slot, ids.data(), int64_t(ids.size()), lr);
}

TEST(kv_block_pool, blocks_are_drawn_as_slots_grow_all_or_none) {
  kv_block_pool p(2, 5, 4, /*prefix_caching=*/false);
  EXPECT_EQ(p.free_blocks(), 5);
  EXPECT_EQ(p.blocks_needed(0, 9), 3);
  auto first = p.grow(0, 9);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 0);
  EXPECT_EQ(p.blocks_of(0), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(p.blocks_needed(0, 12), 0);
  EXPECT_EQ(*p.grow(0, 13), 3);  // one more, appended
  auto no = p.grow(1, 9);        // 3 wanted, 1 free
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().code(), status_code::resource_exhausted);
  EXPECT_EQ(no.error().where(), "slot");
  EXPECT_TRUE(p.blocks_of(1).empty());
  EXPECT_EQ(p.free_blocks(), 1);
  p.release(0);
  EXPECT_EQ(p.free_blocks(), 5);
  ASSERT_TRUE(p.grow(1, 20).ok());  // the whole pool
  EXPECT_EQ(p.free_blocks(), 0);
  EXPECT_EQ(p.cached_blocks(), 0);  // nothing kept without prefix caching
}

TEST(kv_block_pool, a_cached_prefix_is_attached_in_whole_blocks_before_the_last_token) {
  kv_block_pool p(3, 8, 4, /*prefix_caching=*/true);
  const std::vector<int32_t> a = iota(100, 10);  // 2 full blocks + 2 tokens
  fill(p, 0, a);
  EXPECT_EQ(p.cached_blocks(), 2);
  // the same 10 tokens and more: the 2 full blocks (8 tokens), shared while slot 0 holds them
  std::vector<int32_t> b = a;
  b.push_back(7);
  EXPECT_EQ(p.attach_prefix(1, b.data(), int64_t(b.size()), false), 8);
  EXPECT_EQ(p.blocks_of(1), (std::vector<int32_t>{p.blocks_of(0)[0], p.blocks_of(0)[1]}));
  // exactly 8 tokens: the last is computed, so only the first block
  EXPECT_EQ(p.attach_prefix(2, a.data(), 8, false), 4);
  p.release(2);
  // another rope factor, or a different first token: nothing
  EXPECT_EQ(p.attach_prefix(2, b.data(), int64_t(b.size()), true), 0);
  std::vector<int32_t> c = b;
  c[0] = 99;
  EXPECT_EQ(p.attach_prefix(2, c.data(), int64_t(c.size()), false), 0);
  // a different token in the second block: the first only
  c = b;
  c[5] = 99;
  EXPECT_EQ(p.attach_prefix(2, c.data(), int64_t(c.size()), false), 4);
  p.release(2);
  // shared blocks are freed only when the last holder lets go; cached ones stay findable
  p.release(0);
  EXPECT_EQ(p.free_blocks(), 8 - 2);  // slot 1 still holds the two shared ones
  p.release(1);
  EXPECT_EQ(p.free_blocks(), 8);
  EXPECT_EQ(p.attach_prefix(0, b.data(), int64_t(b.size()), false), 8);
}

// held_prefix_blocks: of the blocks attach_prefix would take, those a slot holds (attaching them
// draws nothing free); idle cached ones count as free, so they are not among them; it changes
// nothing.
TEST(kv_block_pool, held_prefix_blocks_are_the_attachable_ones_some_slot_holds) {
  kv_block_pool p(3, 8, 4, /*prefix_caching=*/true);
  const std::vector<int32_t> a = iota(100, 13);  // 3 full blocks + 1 token
  fill(p, 0, a);
  std::vector<int32_t> b = a;
  b.push_back(7);
  EXPECT_EQ(p.held_prefix_blocks(b.data(), int64_t(b.size()), false), 3);
  EXPECT_EQ(p.held_prefix_blocks(a.data(), 12, false), 2);  // (the last token is computed)
  EXPECT_EQ(p.held_prefix_blocks(b.data(), int64_t(b.size()), true), 0);
  EXPECT_EQ(p.free_blocks(), 8 - 4);  // nothing attached
  EXPECT_EQ(p.blocks_of(1).size(), 0u);
  // slot 0 lets go: its 3 full blocks stay cached but idle (free), so none is held
  p.release(0);
  EXPECT_EQ(p.held_prefix_blocks(b.data(), int64_t(b.size()), false), 0);
  // attached again by slot 1: held once more; a prompt sharing only the first block finds 1
  EXPECT_EQ(p.attach_prefix(1, b.data(), int64_t(b.size()), false), 12);
  std::vector<int32_t> c = b;
  c[6] = 99;
  EXPECT_EQ(p.held_prefix_blocks(c.data(), int64_t(c.size()), false), 1);
  kv_block_pool off(1, 4, 4, /*prefix_caching=*/false);
  EXPECT_EQ(off.held_prefix_blocks(b.data(), int64_t(b.size()), false), 0);
}

TEST(kv_block_pool, tokens_appended_one_by_one_fill_blocks_that_are_found_again) {
  kv_block_pool p(2, 6, 2, /*prefix_caching=*/true);
  const std::vector<int32_t> prompt = {5, 6, 7};
  fill(p, 0, prompt);
  for (int32_t t : {8, 9, 10}) {  // decode steps
    ASSERT_TRUE(p.grow(0, int64_t(p.blocks_of(0).size()) * 2 + 1).ok());
    p.append_tokens(0, &t, 1, false);
  }
  EXPECT_EQ(p.cached_blocks(), 3);  // {5,6} {7,8} {9,10}
  const std::vector<int32_t> again = {5, 6, 7, 8, 9, 10, 11};
  EXPECT_EQ(p.attach_prefix(1, again.data(), 7, false), 6);
}

TEST(kv_block_pool, idle_cached_blocks_are_drawn_last_and_least_recent_first) {
  kv_block_pool p(2, 4, 2, /*prefix_caching=*/true);
  const std::vector<int32_t> x = {1, 2, 3, 4, 5};  // 2 full blocks + 1
  fill(p, 0, x);
  p.release(0);  // blocks of {1,2} {3,4} idle and cached, the third free
  EXPECT_EQ(p.free_blocks(), 4);
  EXPECT_EQ(p.cached_blocks(), 2);
  // 2 blocks: the free ones first, the cache untouched
  ASSERT_TRUE(p.grow(1, 4).ok());
  EXPECT_EQ(p.cached_blocks(), 2);
  p.release(1);
  // the whole pool: the idle ones are drawn too (the first released first) and leave the cache
  ASSERT_TRUE(p.grow(1, 8).ok());
  EXPECT_EQ(p.cached_blocks(), 0);
  p.release(1);
  EXPECT_EQ(p.attach_prefix(0, x.data(), 5, false), 0);
}

TEST(kv_block_pool, a_child_never_matches_once_its_parent_was_drawn_again) {
  kv_block_pool p(2, 2, 2, /*prefix_caching=*/true);
  const std::vector<int32_t> x = {1, 2, 3, 4};  // blocks P = {1,2}, C = {3,4} after it
  fill(p, 0, x);
  const int32_t parent = p.blocks_of(0)[0];
  p.release(0);  // P released first: drawn first
  ASSERT_TRUE(p.grow(1, 2).ok());
  EXPECT_EQ(p.blocks_of(1)[0], parent);
  const std::vector<int32_t> y = {5, 6};  // P now holds {5,6}, cached anew
  p.append_tokens(1, y.data(), 2, false);
  p.release(1);
  // {5,6} then {3,4}: block P matches, but C's keys followed {1,2}, not {5,6}
  const std::vector<int32_t> q = {5, 6, 3, 4, 9};
  EXPECT_EQ(p.attach_prefix(0, q.data(), 5, false), 2);
}

}  // namespace
}  // namespace kaito
