// The CPU engine's prefix cache across requests (engine/idle_kv_cache.h through the CPU
// sequence_decoder and batch_generator): an ended sequence's cache serves the next prompt that
// starts with its tokens (logits within 1e-4 of a fresh prefill), never the prompt's last token,
// never across longrope factors, never after a failed call; it is bounded by its byte budget and
// by what the KV budget's running reservations leave; and a chat's next turn reuses the turn
// before it with the answer unchanged.
#include "engine/idle_kv_cache.h"

#include <gtest/gtest.h>

#include <vector>

#include "engine/batch_generator.h"
#include "engine/generate.h"
#include "engine/sampling.h"
#include "engine/sequence_decoder.h"
#include "tests/engine/random_model.h"

namespace kaito::engine {
namespace {

using testing::max_abs_diff;

std::vector<int32_t> tokens(int n, uint64_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(int32_t(rng_bits(seed, uint64_t(i)) % 64));
  return out;
}

// The logits of prefilling all of ids into a decoder that keeps nothing.
std::vector<float> fresh_logits(const model& m, const std::vector<int32_t>& ids) {
  auto d = make_cpu_decoder(m, 1, 0);
  std::vector<float> out;
  const int64_t n = int64_t(ids.size());
  EXPECT_TRUE(d->prefill(0, ids.data(), n, n, &out).ok());
  return out;
}

TEST(idle_kv_cache, an_ended_sequence_serves_the_next_prompt_that_starts_with_it) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "idle_a", 31);
  ASSERT_TRUE(m);
  auto d = make_cpu_decoder(*m, 2);
  // Slot 0: a 12-token prompt and three decoded tokens, then it ends.
  std::vector<int32_t> seq = tokens(12, 1);
  std::vector<float> logits;
  ASSERT_TRUE(d->prefill(0, seq.data(), 12, 12, &logits).ok());
  for (int32_t t : {5, 9, 33}) {
    ASSERT_TRUE(d->decode({0}, {t}, &logits).ok());
    seq.push_back(t);
  }
  d->reset(0);
  // The next turn: those 15 tokens and two more; 15 come from the idle cache.
  std::vector<int32_t> next = seq;
  next.insert(next.end(), {7, 8});
  const int64_t n = int64_t(next.size());
  ASSERT_EQ(d->reuse_prefix(1, next.data(), n, n), 15);
  ASSERT_TRUE(d->prefill(1, next.data() + 15, 2, n, &logits).ok());
  EXPECT_LE(max_abs_diff(logits, fresh_logits(*m, next)), 1e-4f);
  // The entry stays: the same 15 tokens again leave the last one to prefill (14), a slot that
  // holds tokens takes nothing, and a prompt sharing 5 tokens takes 5.
  d->reset(1);  // (keeps the 17, which cover the 15)
  EXPECT_EQ(d->reuse_prefix(0, seq.data(), 15, 15), 14);
  EXPECT_EQ(d->reuse_prefix(0, next.data(), n, n), 0);
  d->reset(0);
  std::vector<int32_t> other(seq.begin(), seq.begin() + 5);
  other.push_back(63 - seq[5]);
  other.push_back(1);
  EXPECT_EQ(d->reuse_prefix(1, other.data(), 7, 7), 5);
  d->reset(1);
  d->trim_idle_cache(0);  // no room: nothing is kept
  EXPECT_EQ(d->reuse_prefix(0, next.data(), n, n), 0);
  // A decoder with no idle bytes keeps nothing.
  auto none = make_cpu_decoder(*m, 1, 0);
  ASSERT_TRUE(none->prefill(0, seq.data(), 15, 15, &logits).ok());
  none->reset(0);
  EXPECT_EQ(none->reuse_prefix(0, next.data(), n, n), 0);
}

TEST(idle_kv_cache, a_failed_call_or_other_rope_factors_are_not_reused) {
  auto m = testing::load_random_model(testing::kDecodePhi3Config, "idle_b", 32);
  ASSERT_TRUE(m);
  auto d = make_cpu_decoder(*m, 2);
  std::vector<float> logits;
  // 20 tokens: past the switch at 16, rotated with the long factors.
  const std::vector<int32_t> longer = tokens(22, 2);
  ASSERT_TRUE(d->prefill(0, longer.data(), 20, 20, &logits).ok());
  d->reset(0);
  EXPECT_EQ(d->reuse_prefix(1, longer.data(), 11, 11), 0);  // a short prompt: other factors
  EXPECT_EQ(d->reuse_prefix(1, longer.data(), 22, 22), 20);
  ASSERT_TRUE(d->prefill(1, longer.data() + 20, 2, 22, &logits).ok());
  EXPECT_LE(max_abs_diff(logits, fresh_logits(*m, longer)), 1e-4f);
  d->reset(1);
  d->trim_idle_cache(0);
  // A slot whose decode failed (beside an empty slot) is not kept.
  const std::vector<int32_t> shorter = tokens(8, 3);
  ASSERT_TRUE(d->prefill(0, shorter.data(), 6, 6, &logits).ok());
  EXPECT_FALSE(d->decode({0, 1}, {shorter[6], shorter[7]}, &logits).ok());
  d->reset(0);
  EXPECT_EQ(d->reuse_prefix(1, shorter.data(), 8, 8), 0);
}

// A chat's second turn repeats the first turn's prompt and answer: batch_generator prefills only
// what is new, and the answer is generate()'s alone. Under a KV budget the idle cache gets only
// the room the running answers leave.
TEST(idle_kv_cache, the_next_turn_reuses_the_turn_before) {
  auto m = testing::load_random_model(testing::kDecodeLlamaConfig, "idle_c", 33);
  ASSERT_TRUE(m);
  const std::vector<int32_t> first = tokens(10, 4);
  generate_options o;
  o.max_new_tokens = 6;
  for (const int64_t budget : {int64_t(0), int64_t(24)}) {
    batch_generator g(*m, {.max_batch = 2, .kv_budget_tokens = budget});
    const std::vector<int32_t> answer = g.generate(first, o).value();
    ASSERT_EQ(answer.size(), 6u);
    std::vector<int32_t> second = first;
    second.insert(second.end(), answer.begin(), answer.end());
    second.insert(second.end(), {3, 4, 5});
    int64_t cached = -1;
    generate_options o2 = o;
    o2.cached_prompt_tokens = &cached;
    EXPECT_EQ(g.generate(second, o2).value(), generate(*m, nullptr, second, o).value());
    // The first answer's last token was drawn, never decoded: its cache holds 10 + 5.
    if (budget == 0) {
      EXPECT_EQ(cached, 15);
      EXPECT_EQ(g.load().prefix_hits, 15);
    } else {  // 19 + 6 reserved leave no room for the 15 kept
      EXPECT_EQ(cached, 0);
      EXPECT_EQ(g.load().prefix_hits, 0);
    }
  }
}

}  // namespace
}  // namespace kaito::engine
