// batch_generator's callers' side (see batch_generator.h): a request queued for the decode thread
// and its tokens read back as they come, and the load figures a server reports.
#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/batch_request.h"
#include "engine/kv_decode.h"

namespace kaito::engine {

batch_generator::batch_load batch_generator::load() const {
  std::lock_guard lock(mu_);
  const int64_t free = kv_free_.load();
  return {running_.load(),
          static_cast<int64_t>(waiting_.size()),
          peak_running_.load(),
          reserved_.load(),
          preemptions_.load(),
          kv_blocks_,
          free < 0 ? 0 : kv_blocks_ - free,
          prefix_queries_.load(),
          prefix_hits_.load(),
          running_loras_,
          adapters_of(waiting_)};
}

result<std::vector<int32_t>> batch_generator::generate(const std::vector<int32_t>& prompt,
                                                       const generate_options& opt) {
  KAITO_TRY(check_prompt(c_, prompt));
  if (static_cast<int64_t>(prompt.size()) > max_len())
    return invalid_argument("prompt of " + std::to_string(prompt.size()) +
                                " tokens is longer than the served context (" +
                                std::to_string(max_len()) + ")",
                            "prompt");
  if (opt.lora && !d_->serves_loras())
    return status(status_code::unimplemented,
                  "this engine serves no LoRA adapters unmerged (LoRA \"" + opt.lora->name + "\")",
                  "model");
  std::vector<int32_t> out;
  if (opt.max_new_tokens <= 0 && opt.prompt_logprobs == nullptr) return out;
  auto r = std::make_shared<request>();
  r->prompt = prompt;
  r->opt = opt;
  r->opt.on_token = nullptr;
  r->opt.step_logits = nullptr;
  r->opt.cached_prompt_tokens = nullptr;
  r->opt.logprobs = nullptr;
  r->opt.prompt_logprobs = nullptr;
  r->opt.max_new_tokens = std::max<int64_t>(opt.max_new_tokens, 0);
  r->want_prompt_logprobs = opt.prompt_logprobs != nullptr;
  r->want_logits = opt.step_logits != nullptr;
  r->want_logprobs = opt.logprobs != nullptr;
  r->seq = prompt;
  r->target = static_cast<int64_t>(prompt.size());
  r->reserved =
      std::min<int64_t>(static_cast<int64_t>(prompt.size()) + opt.max_new_tokens, max_len());
  {
    std::lock_guard lock(mu_);
    if (stopping_) return status(status_code::unavailable, "the model server is shutting down");
    waiting_.push_back(r);
  }
  wake_.notify_all();
  // From here on only the request is touched: a generator being destroyed finishes it.
  for (;;) {
    std::deque<int32_t> tokens;
    std::deque<std::vector<float>> logits;
    std::deque<step_logprobs> lps;
    std::vector<step_logprobs> prompt_lps;
    bool done;
    status error;
    {
      std::unique_lock lock(r->mu);
      r->cv.wait(lock, [&] { return !r->tokens.empty() || r->done; });
      if (r->prompt_lps_ready) {  // (set before the first token or the end)
        prompt_lps.swap(r->ready_prompt_lps);
        r->prompt_lps_ready = false;
      }
      tokens.swap(r->tokens);
      logits.swap(r->token_logits);
      lps.swap(r->token_logprobs);
      done = r->done;
      error = r->error;
    }
    if (opt.cached_prompt_tokens != nullptr) *opt.cached_prompt_tokens = r->cached.load();
    if (opt.prompt_logprobs)
      for (step_logprobs& e : prompt_lps) opt.prompt_logprobs->push_back(std::move(e));
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (opt.step_logits)
        opt.step_logits->insert(opt.step_logits->end(), logits[i].begin(), logits[i].end());
      if (opt.logprobs) opt.logprobs->push_back(std::move(lps[i]));
      out.push_back(tokens[i]);
      if (opt.on_token && !opt.on_token(tokens[i])) {
        r->cancelled = true;  // the decode thread drops it at its next step
        return out;
      }
    }
    if (done) {
      if (!error.ok()) return error;
      return out;
    }
  }
}

}  // namespace kaito::engine
