// Continuous batching (engine/batch_generator.h): concurrent generations, more than fit in one
// batch, each equal to engine::generate() alone (tokens exactly, logits within 1e-4), greedy and
// sampled, across the longrope switch; an on_token that says stop ends its answer exactly there
// without disturbing the others; stop tokens, bad prompts, and shutdown with callers waiting; a
// decoder failing a step ends that step's answers and is reported (failure()); a paged decoder's
// pool running out preempts answers, which resume unchanged.
#include "engine/batch_generator.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/kv_decode.h"
#include "engine/sampling.h"
#include "engine/sequence_decoder.h"
#include "tests/engine/failing_decoder.h"
#include "tests/engine/forwarding_decoder.h"
#include "tests/engine/paged_decoder.h"
#include "tests/engine/random_model.h"

namespace kaito::engine {
namespace {

std::shared_ptr<model> random_model(const char* json, const std::string& tag) {
  return testing::load_random_model(json, "batch_" + tag, 23);
}

using testing::kDecodeLlamaConfig;
using testing::kDecodePhi3Config;
using testing::max_abs_diff;
const char* const kLlama = kDecodeLlamaConfig;
const char* const kPhi3 = kDecodePhi3Config;  // sequences cross the longrope switch at 16

struct job {
  std::vector<int32_t> prompt;
  generate_options opt;
};

std::vector<job> jobs() {
  std::vector<job> out;
  for (int j = 0; j < 7; ++j) {
    job x;
    for (int i = 0; i < 3 + 2 * j; ++i) x.prompt.push_back(int32_t(rng_bits(40 + j, i) % 64));
    x.opt.max_new_tokens = 6 + 2 * j;
    if (j % 2 == 1) {  // sampled, each with its own seed
      x.opt.sampling.temperature = 0.9;
      x.opt.sampling.top_k = 20;
      x.opt.sampling.seed = 100 + j;
    }
    if (j == 2) x.opt.sampling.frequency_penalty = 1.0;  // greedy, penalized
    if (j == 5) {                                        // sampled, penalized
      x.opt.sampling.presence_penalty = 0.8;
      x.opt.sampling.frequency_penalty = 0.3;
    }
    out.push_back(x);
  }
  return out;
}

// Each job through generate() alone: its tokens and the logits each was drawn from.
void alone(const model& m, const std::vector<job>& js, std::vector<std::vector<int32_t>>& tokens,
           std::vector<std::vector<float>>& logits) {
  for (size_t j = 0; j < js.size(); ++j) {
    generate_options o = js[j].opt;
    o.step_logits = &logits[j];
    tokens[j] = generate(m, nullptr, js[j].prompt, o).value();
  }
}

// decode_batch: B sequences of different lengths in one step give each one's own next-token
// logits (as a one-token prefill on a copy of its cache), and every cache grows by one.
TEST(kv_decode, a_batched_step_equals_one_step_per_sequence) {
  for (const char* json : {kLlama, kPhi3}) {
    auto m = random_model(json, "kv");
    ASSERT_TRUE(m);
    const model_config& c = m->config;
    std::vector<kv_cache> caches(3);
    std::vector<int32_t> next;
    for (int b = 0; b < 3; ++b) {
      std::vector<int32_t> p;
      for (int i = 0; i < 4 + 3 * b; ++i) p.push_back(int32_t(rng_bits(9 + b, i) % 64));
      reset_cache(caches[b], c.num_layers);
      std::vector<float> unused;
      ASSERT_TRUE(prefill(*m, nullptr, caches[b], p.data(), int64_t(p.size()), &unused).ok());
      next.push_back(int32_t(rng_bits(99, b) % 64));
    }
    std::vector<kv_cache> alone = caches;
    std::vector<float> want;
    for (int b = 0; b < 3; ++b) {
      std::vector<float> row;
      ASSERT_TRUE(prefill(*m, nullptr, alone[b], &next[b], 1, &row).ok());
      want.insert(want.end(), row.begin(), row.end());
    }
    std::vector<float> got;
    ASSERT_TRUE(decode_batch(*m, nullptr, {&caches[0], &caches[1], &caches[2]}, next, &got).ok());
    EXPECT_LE(max_abs_diff(got, want), 1e-5f);
    for (int b = 0; b < 3; ++b) {
      EXPECT_EQ(caches[b].len, alone[b].len);
      EXPECT_LE(max_abs_diff(caches[b].k[1], alone[b].k[1]), 1e-5f);
    }
    kv_cache empty;
    reset_cache(empty, c.num_layers);
    EXPECT_FALSE(decode_batch(*m, nullptr, {&empty}, {1}, &got).ok());
  }
}

// A prompt prefilled in chunks leaves the cache and logits one prefill gives, also when it crosses
// the longrope switch (every chunk takes the whole prompt's factors).
TEST(kv_decode, chunked_prefill_equals_one_prefill) {
  for (const char* json : {kLlama, kPhi3}) {
    auto m = random_model(json, "chunks");
    ASSERT_TRUE(m);
    std::vector<int32_t> p;
    for (int i = 0; i < 23; ++i) p.push_back(int32_t(rng_bits(5, i) % 64));
    kv_cache whole, chunked;
    reset_cache(whole, m->config.num_layers);
    reset_cache(chunked, m->config.num_layers);
    std::vector<float> want, got;
    ASSERT_TRUE(prefill(*m, nullptr, whole, p.data(), 23, &want).ok());
    for (int64_t done = 0; done < 23; done += 5)
      ASSERT_TRUE(
          prefill(*m, nullptr, chunked, p.data() + done, std::min<int64_t>(5, 23 - done), &got, 23)
              .ok());
    EXPECT_LE(max_abs_diff(got, want), 1e-5f);
    EXPECT_EQ(chunked.len, 23);
    EXPECT_EQ(chunked.long_rope, whole.long_rope);
    EXPECT_LE(max_abs_diff(chunked.k[1], whole.k[1]), 1e-5f);
  }
}

// all_rows: row i is the logits a prefill of the first i + 1 tokens ends with, whole or chunked.
TEST(kv_decode, all_rows_give_every_prefix_its_logits) {
  auto m = random_model(kPhi3, "rows");
  ASSERT_TRUE(m);
  const int64_t V = m->config.vocab_size;
  std::vector<int32_t> p;
  for (int i = 0; i < 19; ++i) p.push_back(int32_t(rng_bits(9, i) % 64));
  kv_cache whole, chunked;
  reset_cache(whole, m->config.num_layers);
  reset_cache(chunked, m->config.num_layers);
  std::vector<float> rows, part, chunks;
  ASSERT_TRUE(prefill(*m, nullptr, whole, p.data(), 19, &rows, 0, true).ok());
  ASSERT_EQ(rows.size(), size_t(19 * V));
  for (int64_t done = 0; done < 19; done += 7) {
    const int64_t n = std::min<int64_t>(7, 19 - done);
    ASSERT_TRUE(prefill(*m, nullptr, chunked, p.data() + done, n, &part, 19, true).ok());
    chunks.insert(chunks.end(), part.begin(), part.end());
  }
  EXPECT_LE(max_abs_diff(chunks, rows), 1e-5f);
  for (int64_t i : {int64_t(0), int64_t(5), int64_t(18)}) {
    kv_cache c;
    reset_cache(c, m->config.num_layers);
    std::vector<float> last;
    ASSERT_TRUE(prefill(*m, nullptr, c, p.data(), i + 1, &last, 19).ok());
    EXPECT_LE(
        max_abs_diff(last, std::vector<float>(rows.begin() + i * V, rows.begin() + (i + 1) * V)),
        1e-5f)
        << "row " << i;
  }
}

// Prompt logprobs (echo with logprobs): generate()'s are logprobs_of each prefix's last logits;
// batch_generator's equal them for whole and chunked prompts, on a paged cache with prefix
// caching too (a prompt whose logprobs are wanted is computed whole, so they are all there), and
// max_new_tokens 0 gives the prompt's alone.
TEST(batch_generator, prompt_logprobs_equal_generate_alone) {
  auto m = random_model(kLlama, "prompt_lps");
  ASSERT_TRUE(m);
  std::vector<int32_t> p;
  for (int i = 0; i < 37; ++i) p.push_back(int32_t(rng_bits(13, i) % 64));
  generate_options o;
  o.max_new_tokens = 3;
  o.top_logprobs = 2;
  std::vector<step_logprobs> want;
  o.prompt_logprobs = &want;
  auto alone_tokens = generate(*m, nullptr, p, o);
  ASSERT_TRUE(alone_tokens.ok());
  ASSERT_EQ(want.size(), p.size() - 1);
  for (size_t i : {size_t(0), size_t(20), p.size() - 2}) {
    kv_cache c;
    reset_cache(c, m->config.num_layers);
    std::vector<float> last;
    ASSERT_TRUE(prefill(*m, nullptr, c, p.data(), int64_t(i) + 1, &last).ok());
    const step_logprobs ref = logprobs_of(last, p[i + 1], 2);
    EXPECT_EQ(want[i].chosen.id, p[i + 1]);
    EXPECT_NEAR(want[i].chosen.logprob, ref.chosen.logprob, 1e-5) << "token " << i;
    ASSERT_EQ(want[i].top.size(), 2u);
    EXPECT_EQ(want[i].top[0].id, ref.top[0].id);
  }
  auto check = [&](const std::vector<step_logprobs>& got, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].chosen.id, want[i].chosen.id) << what << " token " << i;
      EXPECT_NEAR(got[i].chosen.logprob, want[i].chosen.logprob, 1e-4) << what << " token " << i;
      ASSERT_EQ(got[i].top.size(), 2u) << what;
      EXPECT_EQ(got[i].top[1].id, want[i].top[1].id) << what << " token " << i;
    }
  };
  for (int64_t chunk : {int64_t(0), int64_t(8)}) {
    batch_generator g(*m, {.max_batch = 2, .prefill_chunk = chunk});
    std::vector<step_logprobs> got;
    generate_options b = o;
    b.prompt_logprobs = &got;
    auto tokens = g.generate(p, b);
    ASSERT_TRUE(tokens.ok());
    EXPECT_EQ(*tokens, *alone_tokens);
    check(got, chunk == 0 ? "whole" : "chunked");
    std::vector<step_logprobs> only;
    b.prompt_logprobs = &only;
    b.max_new_tokens = 0;
    auto none = g.generate(p, b);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
    check(only, "max_new_tokens 0");
  }
  // a paged cache holding the prompt's blocks from an earlier answer: not reused for logprobs
  auto owned = std::make_unique<kaito::testing::paged_decoder>(*m, 2, 4, 32, true);
  kaito::testing::paged_decoder* pool = owned.get();
  batch_generator g(m->config, std::move(owned), {.max_batch = 2, .prefill_chunk = 16});
  generate_options plain = o;
  plain.prompt_logprobs = nullptr;
  ASSERT_TRUE(g.generate(p, plain).ok());
  std::vector<step_logprobs> got;
  generate_options b = o;
  b.prompt_logprobs = &got;
  ASSERT_TRUE(g.generate(p, b).ok());
  check(got, "paged");
  EXPECT_EQ(pool->reused(), 0);
  ASSERT_TRUE(g.generate(p, plain).ok());  // (and a later plain answer reuses the blocks)
  EXPECT_EQ(pool->reused(), 36);
}

TEST(batch_generator, concurrent_answers_equal_generate_alone) {
  for (const char* json : {kLlama, kPhi3}) {
    auto m = random_model(json, json == kLlama ? "llama" : "phi3");
    ASSERT_TRUE(m);
    auto js = jobs();
    std::vector<std::vector<int32_t>> want(js.size()), got(js.size());
    std::vector<std::vector<float>> want_logits(js.size()), got_logits(js.size());
    alone(*m, js, want, want_logits);
    // generate()'s logprobs (the chosen token and the top 3) for the even jobs
    std::vector<std::vector<step_logprobs>> want_lps(js.size()), got_lps(js.size());
    for (size_t j = 0; j < js.size(); j += 2) {
      generate_options o = js[j].opt;
      o.logprobs = &want_lps[j];
      o.top_logprobs = 3;
      ASSERT_TRUE(generate(*m, nullptr, js[j].prompt, o).ok());
    }
    // 7 requests: some wait for a slot; prompts prefilled whole, or 4 tokens per step.
    for (int64_t chunk : {int64_t(0), int64_t(4)}) {
      batch_generator g(*m, {.max_batch = 3, .prefill_chunk = chunk});
      std::vector<std::thread> threads;
      std::atomic<int> failures{0};
      for (size_t j = 0; j < js.size(); ++j)
        threads.emplace_back([&, j] {
          generate_options o = js[j].opt;
          got_logits[j].clear();
          o.step_logits = &got_logits[j];
          got_lps[j].clear();
          if (j % 2 == 0) {
            o.logprobs = &got_lps[j];
            o.top_logprobs = 3;
          }
          auto r = g.generate(js[j].prompt, o);
          if (!r.ok()) ++failures;
          if (r.ok()) got[j] = *r;
        });
      for (auto& t : threads) t.join();
      EXPECT_EQ(failures.load(), 0);
      for (size_t j = 0; j < js.size(); ++j) {
        EXPECT_EQ(got[j], want[j]) << "request " << j << ", chunk " << chunk;
        EXPECT_LE(max_abs_diff(got_logits[j], want_logits[j]), 1e-4f) << "request " << j;
        ASSERT_EQ(got_lps[j].size(), j % 2 == 0 ? got[j].size() : 0u) << "request " << j;
        for (size_t i = 0; i < got_lps[j].size(); ++i) {
          const step_logprobs &a = got_lps[j][i], &b = want_lps[j][i];
          EXPECT_EQ(a.chosen.id, got[j][i]);
          EXPECT_NEAR(a.chosen.logprob, b.chosen.logprob, 1e-4)
              << "request " << j << " token " << i;
          ASSERT_EQ(a.top.size(), 3u);
          for (size_t k = 0; k < 3; ++k) {
            EXPECT_EQ(a.top[k].id, b.top[k].id) << "request " << j << " token " << i;
            EXPECT_NEAR(a.top[k].logprob, b.top[k].logprob, 1e-4);
          }
        }
      }
    }
  }
}

// A KV budget that holds one answer at a time: the others wait for room (never two at once),
// one that alone passes the budget still runs, and every answer is generate()'s.
TEST(batch_generator, a_kv_budget_admits_only_what_fits) {
  auto m = random_model(kLlama, "budget");
  ASSERT_TRUE(m);
  auto js = jobs();
  // The largest reservation of the first four requests: prompt + max_new_tokens.
  int64_t largest = 0;
  for (size_t j = 0; j < 4; ++j)
    largest = std::max<int64_t>(largest, int64_t(js[j].prompt.size()) + js[j].opt.max_new_tokens);
  batch_generator g(*m, {.max_batch = 8, .kv_budget_tokens = largest});
  std::vector<std::thread> threads;
  std::vector<std::vector<int32_t>> got(4);
  for (size_t j = 0; j < 4; ++j)
    threads.emplace_back([&, j] { got[j] = g.generate(js[j].prompt, js[j].opt).value(); });
  for (auto& t : threads) t.join();
  for (size_t j = 0; j < 4; ++j)
    EXPECT_EQ(got[j], generate(*m, nullptr, js[j].prompt, js[j].opt).value()) << j;
  EXPECT_EQ(g.load().peak_running, 1);
  // The decode thread settles its books at the end of the step that ended the last answer.
  for (int i = 0; i < 200 && g.load().reserved_tokens != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(g.load().reserved_tokens, 0);
  g.set_kv_budget_tokens(3);  // smaller than any request: each still runs, alone
  EXPECT_EQ(g.generate(js[5].prompt, js[5].opt).value(),
            generate(*m, nullptr, js[5].prompt, js[5].opt).value());
}

// The n choices of one prompt (what chat completions' n sends): the CPU decoder prefills it once
// and copies the cache to the others (their logits bit for bit), so each answer still equals
// generate() alone. Four choices, three slots: the fourth starts when the first three end, by
// when (in Phi-3, whose switch is at 16) their caches crossed the longrope switch and were
// re-prefilled with the long factors, so it must not copy from them (it takes the idle cache's
// short-factor prefix instead).
TEST(batch_generator, choices_of_one_prompt_share_its_prefill_and_equal_generate_alone) {
  for (const char* json : {kLlama, kPhi3}) {
    auto m = random_model(json, json == kLlama ? "fork_llama" : "fork_phi3");
    ASSERT_TRUE(m);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 9; ++i) prompt.push_back(int32_t(rng_bits(77, i) % 64));
    const int64_t P = int64_t(prompt.size());
    std::vector<generate_options> opts(4);
    for (size_t j = 0; j < opts.size(); ++j) {
      opts[j].max_new_tokens = 24;
      if (j > 0) {  // sampled, each with its own seed (as n choices are)
        opts[j].sampling.temperature = 0.9;
        opts[j].sampling.seed = 500 + j;
      }
    }
    std::vector<std::vector<int32_t>> want(opts.size()), got(opts.size());
    std::vector<std::vector<float>> want_logits(opts.size()), got_logits(opts.size());
    bool full = true;  // no answer ends before 24 tokens (then the fourth waits for all three)
    for (size_t j = 0; j < opts.size(); ++j) {
      generate_options o = opts[j];
      o.step_logits = &want_logits[j];
      want[j] = generate(*m, nullptr, prompt, o).value();
      full = full && want[j].size() == 24u;
    }
    // The CPU decoder, its first step held until all four requests are queued; prefills go one
    // at a time, so the first answer runs when the next two start.
    std::atomic<batch_generator*> gen{nullptr};
    auto all_queued = [&] {
      auto* g = gen.load();
      if (g == nullptr) return false;
      auto l = g->load();
      return l.waiting + l.running >= 4;
    };
    auto d = std::make_unique<kaito::testing::forwarding_decoder>(make_cpu_decoder(*m, 3));
    d->hold_first_decode(all_queued);
    batch_generator g(m->config, std::move(d), {.max_batch = 3, .prefill_chunk = 4});
    gen = &g;
    std::vector<std::thread> threads;
    for (size_t j = 0; j < opts.size(); ++j)
      threads.emplace_back([&, j] {
        generate_options o = opts[j];
        o.step_logits = &got_logits[j];
        got[j] = g.generate(prompt, o).value();
      });
    for (auto& t : threads) t.join();
    for (size_t j = 0; j < opts.size(); ++j) {
      EXPECT_EQ(got[j], want[j]) << "choice " << j;
      EXPECT_LE(max_abs_diff(got_logits[j], want_logits[j]), 1e-4f) << "choice " << j;
    }
    const auto load = g.load();
    EXPECT_EQ(load.prefix_queries, 4 * P);
    EXPECT_GE(load.prefix_hits, 2 * P);  // two of the first three copied
    EXPECT_LE(load.prefix_hits, 3 * P);
    // The fourth is not copied past the longrope switch, but reuses P - 1 positions of the
    // cache the switch re-prefilled (kept idle, rotated as its prompt's are).
    if (json == kPhi3 && full) EXPECT_EQ(load.prefix_hits, 2 * P + P - 1);
  }
}

// A paged decoder whose pool (16 blocks of 4 positions) holds one of these answers (40 to 44
// tokens, 10 or 11 blocks) but not two, while four may run: the scheduler admits what the pool
// has room for, preempts the newest when the running answers outgrow it, and prefills them again
// later; every answer, greedy or sampled, is still generate()'s alone (tokens exactly, logits
// within 1e-4), across the longrope switch too, and the pool never turns a call down. The first
// decode step waits until every request is queued, so two answers always grow together.
TEST(batch_generator, a_paged_cache_preempts_and_resumes_answers_unchanged) {
  for (const char* json : {kLlama, kPhi3}) {
    auto m = random_model(json, json == kLlama ? "paged_llama" : "paged_phi3");
    ASSERT_TRUE(m);
    auto js = jobs();
    js.resize(5);
    for (size_t j = 0; j < js.size(); ++j)
      js[j].opt.max_new_tokens = 37 - int(j);  // prompts of 3 + 2j: 40 to 44 tokens in all
    std::vector<std::vector<int32_t>> want(js.size()), got(js.size());
    std::vector<std::vector<float>> want_logits(js.size()), got_logits(js.size());
    alone(*m, js, want, want_logits);
    auto owned = std::make_unique<kaito::testing::paged_decoder>(*m, 4, 4, 16);
    kaito::testing::paged_decoder* pool = owned.get();
    std::atomic<batch_generator*> gen{nullptr};
    pool->hold_first_decode([&] {  // every request queued before the first step
      const batch_generator* p = gen.load();
      return p != nullptr && p->load().waiting + p->load().running == int64_t(js.size());
    });
    batch_generator g(m->config, std::move(owned), {.max_batch = 4, .prefill_chunk = 4});
    gen = &g;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (size_t j = 0; j < js.size(); ++j)
      threads.emplace_back([&, j] {
        generate_options o = js[j].opt;
        o.step_logits = &got_logits[j];
        auto r = g.generate(js[j].prompt, o);
        if (!r.ok()) {
          ++failures;
          ADD_FAILURE() << "request " << j << ": " << r.error().to_string();
        }
        if (r.ok()) got[j] = *r;
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    for (size_t j = 0; j < js.size(); ++j) {
      EXPECT_EQ(got[j], want[j]) << "request " << j;
      EXPECT_LE(max_abs_diff(got_logits[j], want_logits[j]), 1e-4f) << "request " << j;
    }
    const auto load = g.load();
    EXPECT_GT(load.preemptions, 0) << "the pool never ran out: the test does not test preemption";
    EXPECT_GE(load.peak_running, 2);
    EXPECT_EQ(load.kv_blocks, 16);
    g.shutdown();  // (the decode thread is done with the decoder)
    EXPECT_EQ(pool->refused(), 0);
    EXPECT_EQ(pool->free_blocks(), 16);  // every block back
  }
}

// Prefix caching in a paged pool of 16 blocks of 4: three questions after one 36-token system
// prompt (9 full blocks), each needing 10 blocks for its prompt and first token. Counted whole,
// only one fits at a time; the system prompt's blocks the first answer holds are shared, not
// drawn, so the other two are admitted beside it (1 block each) and attach those 9 blocks.
// Every answer is still generate()'s alone, and no call is refused.
TEST(batch_generator, cached_prefix_blocks_held_by_running_answers_are_not_counted_again) {
  auto m = random_model(kLlama, "prefix_llama");
  ASSERT_TRUE(m);
  std::vector<job> js(3);
  for (size_t j = 0; j < js.size(); ++j) {
    for (int i = 0; i < 36; ++i) js[j].prompt.push_back(int32_t(rng_bits(77, i) % 64));
    js[j].prompt.push_back(int32_t(10 + j));  // the question
    js[j].opt.max_new_tokens = 6;
  }
  std::vector<std::vector<int32_t>> want(js.size()), got(js.size());
  std::vector<std::vector<float>> want_logits(js.size()), got_logits(js.size());
  alone(*m, js, want, want_logits);
  auto owned = std::make_unique<kaito::testing::paged_decoder>(*m, 4, 4, 16, true);
  kaito::testing::paged_decoder* pool = owned.get();
  std::atomic<batch_generator*> gen{nullptr};
  pool->hold_first_decode([&] {
    const batch_generator* p = gen.load();
    return p != nullptr && p->load().waiting + p->load().running == int64_t(js.size());
  });
  batch_generator g(m->config, std::move(owned), {.max_batch = 4, .prefill_chunk = 64});
  gen = &g;
  std::vector<std::thread> threads;
  for (size_t j = 0; j < js.size(); ++j)
    threads.emplace_back([&, j] {
      generate_options o = js[j].opt;
      o.step_logits = &got_logits[j];
      auto r = g.generate(js[j].prompt, o);
      EXPECT_TRUE(r.ok()) << "request " << j;
      if (r.ok()) got[j] = *r;
    });
  for (auto& t : threads) t.join();
  for (size_t j = 0; j < js.size(); ++j) {
    EXPECT_EQ(got[j], want[j]) << "request " << j;
    EXPECT_LE(max_abs_diff(got_logits[j], want_logits[j]), 1e-4f) << "request " << j;
  }
  const auto load = g.load();
  EXPECT_EQ(load.peak_running, 3) << "the shared prefix was counted as drawn";
  EXPECT_EQ(load.prefix_hits, 2 * 36);
  EXPECT_EQ(load.preemptions, 0);
  g.shutdown();
  EXPECT_EQ(pool->reused(), 2 * 36);
  EXPECT_EQ(pool->refused(), 0);
  EXPECT_EQ(pool->free_blocks(), 16);
}

TEST(batch_generator, a_stopped_answer_ends_there_and_the_others_go_on) {
  auto m = random_model(kLlama, "stop");
  ASSERT_TRUE(m);
  auto js = jobs();
  batch_generator g(*m, {.max_batch = 8});
  const auto want = generate(*m, nullptr, js[6].prompt, js[6].opt).value();
  std::vector<int32_t> seen;
  std::thread other([&] { EXPECT_EQ(g.generate(js[6].prompt, js[6].opt).value(), want); });
  generate_options o = js[4].opt;
  o.max_new_tokens = 40;
  o.on_token = [&](int32_t t) {
    seen.push_back(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a slow client
    return seen.size() < 3;
  };
  auto cut = g.generate(js[4].prompt, o);
  other.join();
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->size(), 3u);
  EXPECT_EQ(*cut, seen);
  generate_options full = js[4].opt;
  full.max_new_tokens = 3;
  EXPECT_EQ(*cut, generate(*m, nullptr, js[4].prompt, full).value());
  // Stop tokens end an answer (kept), as generate() does; bad prompts are refused by name.
  generate_options s = js[0].opt;
  s.max_new_tokens = 10;
  auto all = generate(*m, nullptr, js[0].prompt, s).value();
  s.stop_tokens = {all[2]};
  EXPECT_EQ(g.generate(js[0].prompt, s).value(), generate(*m, nullptr, js[0].prompt, s).value());
  EXPECT_EQ(g.generate({1, 64}, s).error().where(), "prompt[1]");
  EXPECT_FALSE(g.generate({}, s).ok());
  s.max_new_tokens = 0;
  EXPECT_TRUE(g.generate(js[0].prompt, s).value().empty());
}

TEST(batch_generator, shutdown_ends_generations_in_flight) {
  auto m = random_model(kLlama, "shutdown");
  ASSERT_TRUE(m);
  auto g = std::make_unique<batch_generator>(*m, batch_generator_options{.max_batch = 1});
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  std::vector<status> results(3);
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      generate_options o;
      o.max_new_tokens = 100000;  // capped by max_position_embeddings (128)
      o.on_token = [&](int32_t) {
        ++started;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return true;
      };
      auto r = g->generate({1, 2, 3}, o);
      results[i] = r.ok() ? status() : r.error();
    });
  while (started.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  g->shutdown();  // whatever still runs or waits ends: no caller is left hanging
  for (auto& t : threads) t.join();
  for (const auto& s : results)
    EXPECT_TRUE(s.ok() || s.code() == status_code::unavailable) << s.to_string();
  EXPECT_EQ(g->generate({1, 2, 3}, {}).error().code(), status_code::unavailable);
  g->shutdown();  // idempotent; so is the destructor after it
  g.reset();
}

TEST(batch_generator, a_failing_engine_ends_its_answers_and_reports_the_failure) {
  auto m = random_model(kLlama, "failing");
  ASSERT_TRUE(m);
  const status broken(status_code::internal, "an illegal memory access was encountered", "cuda");
  batch_generator g(m->config, std::make_unique<kaito::testing::failing_decoder>(*m, 2, 3, broken),
                    {.max_batch = 2});
  EXPECT_TRUE(g.failure().ok());
  generate_options o;
  o.max_new_tokens = 2;  // one decode step: before the failure
  ASSERT_TRUE(g.generate({1, 2, 3}, o).ok());
  EXPECT_TRUE(g.failure().ok());
  o.max_new_tokens = 10;  // the third decode step fails
  auto r = g.generate({4, 5}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::internal);
  EXPECT_EQ(g.failure().code(), status_code::internal);
  EXPECT_EQ(g.failure().where(), "cuda");
  // a request's own bad input is not the engine's failure
  batch_generator fine(*m, {.max_batch = 1});
  EXPECT_FALSE(fine.generate({1, 999999}, o).ok());
  EXPECT_TRUE(fine.failure().ok());
}

}  // namespace
}  // namespace kaito::engine
