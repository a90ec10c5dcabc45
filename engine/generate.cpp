// Greedy decoding with a KV cache (see generate.h).
#include "engine/generate.h"

#include <algorithm>

#include "engine/kv_decode.h"
#include "engine/token_filter.h"

namespace kaito::engine {

result<std::vector<int32_t>> generate_greedy(const model& m, const lora_adapter* lora,
                                             const std::vector<int32_t>& prompt,
                                             const generate_options& opt) {
  generate_options greedy = opt;
  greedy.sampling = sampling_params{};
  return generate(m, lora, prompt, greedy);
}

result<std::vector<int32_t>> generate(const model& m, const lora_adapter* lora,
                                      const std::vector<int32_t>& prompt,
                                      const generate_options& opt) {
  const model_config& c = m.config;
  KAITO_TRY(check_prompt(c, prompt));
  std::vector<int32_t> seq = prompt, out;
  kv_cache cache;
  reset_cache(cache, c.num_layers);
  std::vector<float> logits;
  const int64_t P = static_cast<int64_t>(seq.size());
  if (opt.prompt_logprobs) {
    KAITO_TRY(prefill(m, lora, cache, seq.data(), P, &logits, 0, /*all_rows=*/true));
    for (step_logprobs& e : prompt_logprobs_of(logits, c.vocab_size, prompt, 0, opt.top_logprobs))
      opt.prompt_logprobs->push_back(std::move(e));
    logits.erase(logits.begin(), logits.end() - c.vocab_size);  // the last row: the next draw's
  } else {
    KAITO_TRY(prefill(m, lora, cache, seq.data(), P, &logits));
  }
  while (static_cast<int64_t>(out.size()) < opt.max_new_tokens) {
    if (opt.step_logits)
      opt.step_logits->insert(opt.step_logits->end(), logits.begin(), logits.end());
    std::vector<float> allowed = logits;  // (step_logits and logprobs: the model's)
    if (opt.filter) opt.filter->mask(allowed);
    const int32_t next = sample_token(std::move(allowed), opt.sampling, seq, out.size());
    if (opt.filter) opt.filter->advance(next);
    if (opt.logprobs) opt.logprobs->push_back(logprobs_of(logits, next, opt.top_logprobs));
    out.push_back(next);
    seq.push_back(next);
    if (opt.on_token && !opt.on_token(next)) break;
    if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), next) != opt.stop_tokens.end())
      break;
    if (static_cast<int64_t>(seq.size()) >= c.max_position_embeddings) break;
    const int64_t total = static_cast<int64_t>(seq.size());
    if (needs_reprefill(c, cache, total)) {
      // Longrope switch: re-prefill everything with the new factors.
      reset_cache(cache, c.num_layers);
      KAITO_TRY(prefill(m, lora, cache, seq.data(), total, &logits));
    } else {
      KAITO_TRY(prefill(m, lora, cache, &seq.back(), 1, &logits));
    }
  }
  return out;
}

}  // namespace kaito::engine
