// Logits processors against hand-computed distributions (HF order and semantics), the draw against
// its distribution, and sampled generation's reproducibility.
#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "engine/generate.h"
#include "engine/model_weights.h"

namespace kaito::engine {
namespace {

std::vector<double> softmax(std::vector<double> l) {
  double m = l[0], s = 0;
  for (double x : l) m = std::max(m, x);
  for (double& x : l) s += x = std::exp(x - m);
  for (double& x : l) x /= s;
  return l;
}

TEST(sampling, repetition_penalty_then_temperature) {
  sampling_params p;
  p.temperature = 0.5;
  p.repetition_penalty = 2.0;
  // seen tokens 0 (positive: /2) and 1 (negative: *2); token 2 untouched; then / 0.5.
  auto d = sampling_distribution({2.0f, -2.0f, 1.0f}, p, {0, 1, 1});
  auto want = softmax({2.0, -8.0, 2.0});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(d[i], want[i], 1e-6);  // (fp32 exponentials)
}

// frequency and presence penalties count only the generated tokens (the last `generated` of the
// history), after the repetition penalty and before temperature; greedy picks on them too.
TEST(sampling, frequency_and_presence_penalties_count_generated_tokens) {
  sampling_params p;
  p.temperature = 0.5;
  p.frequency_penalty = 0.25;
  p.presence_penalty = 1.0;
  // history: prompt {0, 2}, generated {2, 2, 1}: token 2 twice, token 1 once, token 0 not at all
  const std::vector<int32_t> history = {0, 2, 2, 2, 1};
  auto d = sampling_distribution({2.0f, 1.0f, 3.0f, 0.5f}, p, history, 3);
  auto want = softmax({2.0 / 0.5, (1.0 - 0.25 - 1.0) / 0.5, (3.0 - 0.5 - 1.0) / 0.5, 0.5 / 0.5});
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d[i], want[i], 1e-6) << i;
  // with no generated token nothing changes
  p.frequency_penalty = p.presence_penalty = 0.0;
  auto plain = sampling_distribution({2.0f, 1.0f, 3.0f, 0.5f}, p, history, 0);
  p.frequency_penalty = 0.25;
  p.presence_penalty = 1.0;
  EXPECT_EQ(sampling_distribution({2.0f, 1.0f, 3.0f, 0.5f}, p, history, 0), plain);
  // greedy: token 2 (3.0) falls under token 0 (2.0) once it was generated twice
  sampling_params greedy;
  greedy.presence_penalty = 1.0;
  EXPECT_EQ(sample_token({2.0f, 1.0f, 3.0f, 0.5f}, greedy, {0, 2}, 0), 2);
  EXPECT_EQ(sample_token({2.0f, 1.0f, 3.0f, 0.5f}, greedy, {0, 2}, 1), 0);
}

// logit_bias is added to the logits before every processor; greedy picks on it; ids outside the
// vocabulary are skipped.
TEST(sampling, logit_bias_comes_first) {
  sampling_params p;
  p.temperature = 2.0;
  p.repetition_penalty = 2.0;
  p.logit_bias = {{1, 3.0f}, {99, 5.0f}};
  // token 1: (-1 + 3) = 2, then the repetition penalty (seen, positive) /2 = 1, then /T
  auto d = sampling_distribution({0.5f, -1.0f}, p, {1});
  auto want = softmax({0.5 / 2.0, 1.0 / 2.0});
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(d[i], want[i], 1e-6) << i;
  sampling_params greedy;
  greedy.logit_bias = {{0, -100.0f}};
  EXPECT_EQ(sample_token({3.0f, 1.0f, 2.0f}, greedy, {}, 0), 2);
}

TEST(sampling, top_k_and_top_p) {
  sampling_params p;
  p.temperature = 1.0;
  p.top_k = 2;
  auto d = sampling_distribution({3.0f, 1.0f, 2.0f, 0.0f}, p, {});
  auto two = softmax({3.0, 2.0});
  EXPECT_NEAR(d[0], two[0], 1e-6);
  EXPECT_NEAR(d[2], two[1], 1e-6);
  EXPECT_EQ(d[1], 0.0);
  EXPECT_EQ(d[3], 0.0);
  // probabilities 0.5 / 0.3 / 0.2, top_p 0.6: 0.2 falls under 1 - 0.6 and goes.
  p = sampling_params{};
  p.temperature = 1.0;
  p.top_p = 0.6;
  d = sampling_distribution({float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.2))}, p,
                            {});
  EXPECT_NEAR(d[0], 0.625, 1e-6);
  EXPECT_NEAR(d[1], 0.375, 1e-6);
  EXPECT_EQ(d[2], 0.0);
  // A tiny top_p keeps only the most likely token.
  p.top_p = 1e-9;
  d = sampling_distribution({0.1f, 0.3f, 0.2f}, p, {});
  EXPECT_EQ(d[1], 1.0);
}

// min_p: after temperature, tokens under min_p times the most likely go (vLLM's and HF's MinP);
// with top_p the cut applies to what min_p kept, renormalized (vLLM's order); greedy unchanged.
TEST(sampling, min_p_drops_the_unlikely_relative_to_the_most_likely) {
  sampling_params p;
  p.temperature = 1.0;
  p.min_p = 0.5;
  // probabilities 0.5 / 0.3 / 0.2: the cut is 0.25, so 0.2 goes
  const std::vector<float> l = {float(std::log(0.5)), float(std::log(0.3)), float(std::log(0.2))};
  auto d = sampling_distribution(l, p, {});
  EXPECT_NEAR(d[0], 0.625, 1e-6);
  EXPECT_NEAR(d[1], 0.375, 1e-6);
  EXPECT_EQ(d[2], 0.0);
  // temperature 0.5 sharpens first: 0.25 / 0.09 / 0.04 (over 0.38), cut at half of 0.25
  p.temperature = 0.5;
  d = sampling_distribution(l, p, {});
  EXPECT_NEAR(d[0], 1.0, 1e-6);
  EXPECT_EQ(d[1], 0.0);
  // then top_p 0.7 over what min_p 0.3 kept (0.5 and 0.3 renormalized: 0.625 / 0.375)
  p.temperature = 1.0;
  p.min_p = 0.3;
  p.top_p = 0.7;
  d = sampling_distribution(l, p, {});
  EXPECT_NEAR(d[0], 0.625, 1e-6);
  EXPECT_NEAR(d[1], 0.375, 1e-6);
  p.top_p = 0.5;
  d = sampling_distribution(l, p, {});
  EXPECT_NEAR(d[0], 1.0, 1e-6);
  p = sampling_params{};
  p.min_p = 0.9;
  EXPECT_EQ(sample_token(l, p, {}, 0), 0);
}

// TopPLogitsWarper as HF writes it: stable ascending sort, cumulative sum, drop while <= 1 - top_p
// (the most likely always stays), renormalize.
std::vector<double> hf_top_p(std::vector<double> prob, double top_p) {
  std::vector<size_t> order(prob.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prob[a] < prob[b]; });
  double cum = 0.0;
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    cum += prob[order[i]];
    if (cum <= 1.0 - top_p) prob[order[i]] = 0.0;
  }
  double s = 0.0;
  for (double x : prob) s += x;
  for (double& x : prob) x /= s;
  return prob;
}

// top_p against HF's sort-everything form on random distributions: Phi-3's vocabulary and small
// ones, flat to peaked (logit spreads 0.05 .. 20), heavy ties (a few distinct logits), with and
// without top_k, top_p from 1e-9 to 0.999: the same tokens kept, the same probabilities.
TEST(sampling, top_p_keeps_what_hfs_sorted_cumsum_keeps) {
  std::mt19937 rng(7);
  int cases = 0, partial = 0;
  for (int64_t V : {1, 2, 3, 7, 65, 200, 5000, 32064})
    for (double spread : {0.05, 1.0, 4.0, 20.0})
      for (bool ties : {false, true})
        for (double top_p : {1e-9, 0.1, 0.5, 0.9, 0.95, 0.999})
          for (int64_t top_k : {int64_t(0), int64_t(40)}) {
            std::normal_distribution<float> n(0.0f, float(spread));
            std::vector<float> l(static_cast<size_t>(V));
            for (float& x : l) x = ties ? std::round(n(rng) / float(spread) * 2.0f) : n(rng);
            sampling_params p;
            p.temperature = 0.7;
            p.top_k = top_k;
            p.top_p = top_p;
            sampling_params no_top_p = p;
            no_top_p.top_p = 1.0;
            const std::vector<double> want =
                hf_top_p(sampling_distribution(l, no_top_p, {}), top_p);
            const std::vector<double> got = sampling_distribution(l, p, {});
            ASSERT_EQ(got.size(), want.size());
            int64_t kept = 0;
            for (size_t v = 0; v < got.size(); ++v) {
              ASSERT_EQ(got[v] == 0.0, want[v] == 0.0)
                  << "V=" << V << " spread=" << spread << " ties=" << ties << " top_p=" << top_p
                  << " top_k=" << top_k << " token " << v;
              ASSERT_NEAR(got[v], want[v], 1e-12) << v;
              kept += got[v] > 0.0;
            }
            ++cases;
            partial += kept > 1 && kept < V;
          }
  EXPECT_EQ(cases, 8 * 4 * 2 * 6 * 2);
  EXPECT_GT(partial, cases / 3);  // most cases cut inside the vocabulary, not at an end
  // top_p 0 (the engine's callers may pass it; the API refuses it): the most likely alone, the
  // higher index of a tie (the last of HF's stable ascending sort)
  sampling_params p;
  p.temperature = 1.0;
  p.top_p = 0.0;
  EXPECT_EQ(sampling_distribution({1.0f, 3.0f, 3.0f, 0.0f}, p, {}),
            (std::vector<double>{0.0, 0.0, 1.0, 0.0}));
}

// logprobs_of: the raw logits' log-softmax (no sampling setting changes it), the chosen token's
// and the top k's, most likely first, ties to the lower id; k clamped to V.
TEST(sampling, logprobs_are_the_raw_log_softmax) {
  const std::vector<float> l = {1.0f, 3.0f, 3.0f, -2.0f};
  const double lse = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-2.0));
  step_logprobs s = logprobs_of(l, 3, 3);
  EXPECT_EQ(s.chosen.id, 3);
  EXPECT_NEAR(s.chosen.logprob, -2.0 - lse, 1e-12);
  ASSERT_EQ(s.top.size(), 3u);
  EXPECT_EQ(s.top[0].id, 1);  // the tie at 3.0: the lower id first
  EXPECT_EQ(s.top[1].id, 2);
  EXPECT_EQ(s.top[2].id, 0);
  EXPECT_NEAR(s.top[0].logprob, 3.0 - lse, 1e-12);
  EXPECT_NEAR(s.top[2].logprob, 1.0 - lse, 1e-12);
  EXPECT_TRUE(logprobs_of(l, 0, 0).top.empty());
  EXPECT_EQ(logprobs_of(l, 0, 99).top.size(), 4u);
  // Phi-3's vocabulary: the probabilities sum to 1
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 4.0f);
  std::vector<float> big(32064);
  for (float& x : big) x = n(rng);
  const step_logprobs all = logprobs_of(big, 7, 32064);
  double total = 0.0;
  for (const token_logprob& t : all.top) total += std::exp(t.logprob);
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_EQ(all.top.front().id, int32_t(std::max_element(big.begin(), big.end()) - big.begin()));
}

TEST(sampling, greedy_and_draw_frequencies) {
  sampling_params greedy;
  EXPECT_EQ(sample_token({1.0f, 3.0f, 3.0f, 0.0f}, greedy, {}, 0), 1);  // first max, as argmax
  greedy.repetition_penalty = 4.0;
  EXPECT_EQ(sample_token({1.0f, 3.0f, 2.0f, 0.0f}, greedy, {1}, 0), 2);
  sampling_params p;
  p.temperature = 1.0;
  p.seed = 99;
  const std::vector<float> logits = {0.0f, 1.0f, -1.0f, 0.5f};
  const auto want = sampling_distribution(logits, p, {});
  std::vector<int> count(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++count[size_t(sample_token(logits, p, {}, uint64_t(i)))];
  for (int v = 0; v < 4; ++v) {
    // binomial standard deviation <= 0.0025 at n = 40000: 4 sigma.
    EXPECT_NEAR(double(count[size_t(v)]) / n, want[size_t(v)], 0.01) << v;
  }
}

TEST(sampling, sampled_generation_is_reproducible) {
  auto m = load_model(std::string(KAITO_SHARED_DIR) + "/fixtures/tiny-phi3/base");
  ASSERT_TRUE(m.ok());
  const std::vector<int32_t> prompt = {1, 20, 30, 40};
  generate_options opt;
  opt.max_new_tokens = 12;
  opt.sampling.temperature = 1.0;
  opt.sampling.top_p = 0.95;
  opt.sampling.seed = 1;
  auto a = generate(*m.value(), nullptr, prompt, opt).value();
  auto b = generate(*m.value(), nullptr, prompt, opt).value();
  EXPECT_EQ(a, b);
  opt.sampling.seed = 2;
  EXPECT_NE(generate(*m.value(), nullptr, prompt, opt).value(), a);
  opt.sampling.top_k = 1;  // top-1 sampling is greedy
  EXPECT_EQ(generate(*m.value(), nullptr, prompt, opt).value(),
            generate_greedy(*m.value(), nullptr, prompt, opt).value());
}

}  // namespace
}  // namespace kaito::engine
