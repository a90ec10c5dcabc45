// batch_generator::request: one generation, shared by its caller and the decode thread
// (engine/batch_generator.cpp, and the paged scheduling in batch_generator_paged.cpp). Private to
// the batch generator's sources.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/batch_generator.h"
#include "engine/generate.h"
#include "engine/sampling.h"

namespace kaito::engine {

struct batch_generator::request {
  std::vector<int32_t> prompt;
  generate_options opt;  // on_token and step_logits are the caller's: never used by the loop
  bool want_logits = false;
  bool want_logprobs = false;  // (opt.top_logprobs: how many of the most likely with each)
  bool want_prompt_logprobs = false;
  // The decode thread's: the prompt's logprobs so far (computed chunk by chunk, every row's
  // logits; no cached prefix reused until they are all in), and whether they are.
  std::vector<step_logprobs> prompt_lps;
  bool prompt_lps_done = false;
  // A prefill round may attach a cached prefix (sequence_decoder::reuse_prefix): not while the
  // prompt's logprobs are still to compute.
  bool reuses_prefix() const { return !want_prompt_logprobs || prompt_lps_done; }
  // The decode thread's.
  int64_t slot = -1;  // the decoder slot it holds while admitted
  std::vector<int32_t> seq;
  int64_t drawn = 0;
  std::vector<float> logits;  // for the next draw
  // An unpaged decoder's: the logits its prompt's prefill ended on (before any draw), for a
  // request with the same prompt to start from (batch_generator::fork_prompt); empty otherwise.
  std::vector<float> prompt_logits;
  // Tokens of seq to prefill before it decodes: the prompt, or, once preempted, the whole
  // sequence so far (its prompt and answer, prefilled again when it is readmitted).
  int64_t target = 0;
  int64_t prefilled = 0;  // of them in the cache
  // The prompt tokens its first prefill found in the prefix cache (set before any token is
  // emitted, so its caller reads it once a token or the end arrived).
  std::atomic<int64_t> cached{0};
  bool started = false;  // its first prefill began
  bool begun = false;    // this round's prefill began (its cache reset, a cached prefix attached)
  int64_t reserved = 0;  // KV positions it may use: prompt + max_new_tokens, capped
  // Shared under mu.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<int32_t> tokens;
  std::deque<std::vector<float>> token_logits;
  std::deque<step_logprobs> token_logprobs;
  std::vector<step_logprobs> ready_prompt_lps;  // all of them, once the prompt is in
  bool prompt_lps_ready = false;
  bool done = false;
  status error;
  std::atomic<bool> cancelled{false};  // the caller stopped reading
};

// The names of the LoRA adapters of these lists of requests, each once, sorted.
template <class... Lists>
std::vector<std::string> adapters_of(const Lists&... lists) {
  std::vector<std::string> out;
  auto add = [&](const auto& list) {
    for (const auto& r : list)
      if (r->opt.lora) out.push_back(r->opt.lora->name);
  };
  (add(lists), ...);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace kaito::engine
