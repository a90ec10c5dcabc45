// sampling: choose the next token from one row of logits, as transformers' generate() does with
// its logits processors, in HF order, after OpenAI's logit_bias (added to the logits first, as
// vLLM adds it):
//   repetition_penalty (RepetitionPenaltyLogitsProcessor: for every token already in the sequence,
//     l = l < 0 ? l * penalty : l / penalty), then OpenAI's (and vLLM's) frequency and presence
//     penalties over the tokens generated so far (l -= frequency_penalty * count + presence_penalty
//     for each token that occurs count > 0 times among them), then temperature (l / T), top_k (keep
//     the k largest, ties at the k-th value kept), top_p (TopPLogitsWarper: drop the
//     smallest-probability tokens whose cumulative probability is <= 1 - top_p, always keeping the
//     most likely one), then
//   softmax and one draw.
// temperature == 0 means greedy (argmax, first index on ties, as torch.argmax). The softmax takes
// fp32 exponentials (kernels/vexp.h: AVX-512 where the CPU has it, else glibc's expf, within 2
// ulp of each other) normalized in fp64. The draw is u = rng_uniform(seed, step) (kernels/rng.h),
// so a seeded generation is reproducible on any machine of the same kind (AVX-512 or not; across
// the two a draw moves only when u falls within ~1e-7 of a boundary); it is not torch's
// generator.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace kaito::engine {

struct sampling_params {
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  // 0 = off; else tokens less likely than min_p times the most likely are dropped (vLLM's and
  // HF's MinP, after temperature, with top_k, before top_p as vLLM orders them)
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  double frequency_penalty = 0.0, presence_penalty = 0.0;  // 0 = off
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, added); ids outside V skipped
  uint64_t seed = 0;
};

// `logits` (V) is taken by value and modified by the processors; `history` is every token of the
// sequence so far (prompt + generated); `step` indexes the draw and is the number of tokens
// generated so far (the last `step` of history, which the frequency and presence penalties count).
int32_t sample_token(std::vector<float> logits, const sampling_params& p,
                     const std::vector<int32_t>& history, uint64_t step);

// The probabilities sample_token draws from (after every processor), for tests; `generated`: the
// last tokens of history that were generated (sample_token's step).
std::vector<double> sampling_distribution(std::vector<float> logits, const sampling_params& p,
                                          const std::vector<int32_t>& history,
                                          uint64_t generated = 0);

// The draw from a distribution (sample_token's last part): the first token whose cumulative
// probability passes u = rng_uniform(seed, step), in id order; the last positive one when rounding
// leaves u at or above the total.
int32_t draw_token(const std::vector<double>& prob, uint64_t seed, uint64_t step);

// Log-probabilities of one generated token under the model: the log-softmax of the raw logits
// (before repetition penalty, temperature, top_k and top_p: vLLM's raw_logprobs, what OpenAI's
// logprobs report), in fp64, for the chosen token and the top_k most likely (descending; ties:
// the lower id first; top_k is clamped to V).
struct token_logprob {
  int32_t id = 0;
  double logprob = 0.0;
};
struct step_logprobs {
  token_logprob chosen;
  std::vector<token_logprob> top;
};
step_logprobs logprobs_of(const std::vector<float>& logits, int32_t chosen, int64_t top_k);
step_logprobs logprobs_of(const float* logits, int64_t vocab, int32_t chosen, int64_t top_k);
// Prompt logprobs (vLLM's prompt_logprobs, OpenAI completions' echo with logprobs): rows holds
// the (n, vocab) logits of prompt positions first .. first+n-1; entry i is logprobs_of row i for
// the prompt token after it, prompt[first + i + 1] (so none for the last prompt position). Rows
// run on the CPU kernels' worker pool.
std::vector<step_logprobs> prompt_logprobs_of(const std::vector<float>& rows, int64_t vocab,
                                              const std::vector<int32_t>& prompt, int64_t first,
                                              int64_t top_k);

}  // namespace kaito::engine
