// Continuous batching; see batch_generator.h.
#include "engine/batch_generator.h"

#include <algorithm>
#include <atomic>

#include "engine/kv_decode.h"
#include "engine/sampling.h"

namespace kaito::engine {

struct batch_generator::request {
  std::vector<int32_t> prompt;
  generate_options opt;  // on_token and step_logits are the caller's: never used by the loop
  bool want_logits = false;
  // The decode thread's.
  kv_cache cache;
  std::vector<int32_t> seq;
  int64_t drawn = 0;
  std::vector<float> logits;  // for the next draw
  int64_t prefilled = 0;      // prompt tokens in the cache
  int64_t reserved = 0;       // KV positions it may use: prompt + max_new_tokens, capped
  // Shared under mu.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<int32_t> tokens;
  std::deque<std::vector<float>> token_logits;
  bool done = false;
  status error;
  std::atomic<bool> cancelled{false};  // the caller stopped reading
};

namespace {

using request_ptr = std::shared_ptr<batch_generator::request>;

void finish(const request_ptr& r, status error = {}) {
  std::lock_guard lock(r->mu);
  r->done = true;
  r->error = std::move(error);
  r->cv.notify_all();
}

// One draw from r->logits, as generate()'s loop body; false when the sequence has ended.
bool emit(const model_config& c, const request_ptr& r) {
  if (r->cancelled.load()) {
    finish(r);
    return false;
  }
  const int32_t next =
      sample_token(r->logits, r->opt.sampling, r->seq, static_cast<uint64_t>(r->drawn));
  ++r->drawn;
  r->seq.push_back(next);
  {
    std::lock_guard lock(r->mu);
    r->tokens.push_back(next);
    if (r->want_logits) r->token_logits.push_back(r->logits);
    r->cv.notify_all();
  }
  const auto& stops = r->opt.stop_tokens;
  const bool ended = std::find(stops.begin(), stops.end(), next) != stops.end() ||
                     r->drawn >= r->opt.max_new_tokens ||
                     static_cast<int64_t>(r->seq.size()) >= c.max_position_embeddings;
  if (ended) finish(r);
  return !ended;
}

}  // namespace

namespace {

batch_generator_options sane(batch_generator_options o) {
  o.max_batch = std::max<int64_t>(o.max_batch, 1);
  o.prefill_chunk = std::max<int64_t>(o.prefill_chunk, 0);
  o.kv_budget_tokens = std::max<int64_t>(o.kv_budget_tokens, 0);
  return o;
}

}  // namespace

// o_ is settled before the decode thread starts (thread_ is the last member).
batch_generator::batch_generator(const model& m, batch_generator_options o)
    : m_(m), o_(sane(o)), kv_budget_(o_.kv_budget_tokens), thread_([this] { loop(); }) {}

void batch_generator::set_kv_budget_tokens(int64_t tokens) {
  kv_budget_ = std::max<int64_t>(tokens, 0);
}

batch_generator::~batch_generator() {
  shutdown();
}

void batch_generator::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  std::lock_guard lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

// One chunk of r's prompt into its cache (the first resets it); true once the whole prompt is in
// and r->logits holds the first draw's. An error finishes r.
bool batch_generator::prefill_chunk(const std::shared_ptr<request>& r) {
  const int64_t P = static_cast<int64_t>(r->prompt.size());
  if (r->prefilled == 0) {
    reset_cache(r->cache, m_.config.num_layers);
    r->seq = r->prompt;
  }
  const int64_t n =
      o_.prefill_chunk > 0 ? std::min(o_.prefill_chunk, P - r->prefilled) : P - r->prefilled;
  auto st = prefill(m_, nullptr, r->cache, r->seq.data() + r->prefilled, n, &r->logits, P);
  if (!st.ok()) {
    finish(r, st);
    return false;
  }
  r->prefilled += n;
  return r->prefilled == P;
}

void batch_generator::loop() {
  const model_config& c = m_.config;
  std::vector<request_ptr> active;
  std::deque<request_ptr> prefilling;  // admitted, prompt not all in the cache yet
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] {
        return stopping_ || !waiting_.empty() || !active.empty() || !prefilling.empty();
      });
      if (stopping_) break;
      int64_t reserved = 0;
      for (const auto& r : active) reserved += r->reserved;
      for (const auto& r : prefilling) reserved += r->reserved;
      const int64_t budget = kv_budget_.load();
      while (!waiting_.empty() &&
             static_cast<int64_t>(active.size() + prefilling.size()) < o_.max_batch) {
        const int64_t need = waiting_.front()->reserved;
        const bool alone = active.empty() && prefilling.empty();
        if (budget > 0 && reserved + need > budget && !alone) break;  // waits for KV room
        reserved += need;
        prefilling.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      reserved_ = reserved;
      running_ = static_cast<int64_t>(active.size() + prefilling.size());
      peak_running_ = std::max(peak_running_.load(), running_.load());
    }
    // Prefill: one chunk of the oldest admitted prompt per step, so a long prompt delays the
    // running answers by a chunk at a time, not by its whole prefill.
    if (!prefilling.empty()) {
      request_ptr r = prefilling.front();
      if (r->cancelled.load()) {
        finish(r);
        prefilling.pop_front();
      } else if (prefill_chunk(r)) {
        prefilling.pop_front();
        if (emit(c, r)) active.push_back(r);
      } else {
        std::lock_guard lock(r->mu);
        if (r->done) prefilling.pop_front();  // the prefill failed
      }
    }
    // Every active sequence's last token is not in its cache yet: one step feeds it.
    std::vector<request_ptr> step;
    std::vector<kv_cache*> caches;
    std::vector<int32_t> ids;
    std::vector<request_ptr> next;
    for (auto& r : active) {
      if (r->cancelled.load()) {
        finish(r);
        continue;
      }
      const int64_t total = static_cast<int64_t>(r->seq.size());
      if (needs_reprefill(c, r->cache, total)) {  // longrope switch: this one alone
        reset_cache(r->cache, c.num_layers);
        auto st = prefill(m_, nullptr, r->cache, r->seq.data(), total, &r->logits);
        if (!st.ok()) {
          finish(r, st);
          continue;
        }
        if (emit(c, r)) next.push_back(r);
        continue;
      }
      step.push_back(r);
      caches.push_back(&r->cache);
      ids.push_back(r->seq.back());
    }
    if (!step.empty()) {
      std::vector<float> logits;
      auto st = decode_batch(m_, nullptr, caches, ids, &logits);
      const size_t V = static_cast<size_t>(c.vocab_size);
      for (size_t b = 0; b < step.size(); ++b) {
        if (!st.ok()) {
          finish(step[b], st);
          continue;
        }
        step[b]->logits.assign(logits.begin() + b * V, logits.begin() + (b + 1) * V);
        if (emit(c, step[b])) next.push_back(step[b]);
      }
    }
    active = std::move(next);
    running_ = static_cast<int64_t>(active.size() + prefilling.size());
    int64_t reserved = 0;
    for (const auto& r : active) reserved += r->reserved;
    for (const auto& r : prefilling) reserved += r->reserved;
    reserved_ = reserved;
  }
  const status gone(status_code::unavailable, "the model server is shutting down");
  for (auto& r : active) finish(r, gone);
  for (auto& r : prefilling) finish(r, gone);
  std::lock_guard lock(mu_);
  for (auto& r : waiting_) finish(r, gone);
  waiting_.clear();
}

batch_generator::batch_load batch_generator::load() const {
  std::lock_guard lock(mu_);
  return {running_.load(), static_cast<int64_t>(waiting_.size()), peak_running_.load(),
          reserved_.load()};
}

result<std::vector<int32_t>> batch_generator::generate(const std::vector<int32_t>& prompt,
                                                       const generate_options& opt) {
  KAITO_TRY(check_prompt(m_.config, prompt));
  std::vector<int32_t> out;
  if (opt.max_new_tokens <= 0) return out;
  auto r = std::make_shared<request>();
  r->prompt = prompt;
  r->opt = opt;
  r->opt.on_token = nullptr;
  r->opt.step_logits = nullptr;
  r->want_logits = opt.step_logits != nullptr;
  r->reserved = std::min<int64_t>(static_cast<int64_t>(prompt.size()) + opt.max_new_tokens,
                                  m_.config.max_position_embeddings);
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
    bool done;
    status error;
    {
      std::unique_lock lock(r->mu);
      r->cv.wait(lock, [&] { return !r->tokens.empty() || r->done; });
      tokens.swap(r->tokens);
      logits.swap(r->token_logits);
      done = r->done;
      error = r->error;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (opt.step_logits)
        opt.step_logits->insert(opt.step_logits->end(), logits[i].begin(), logits[i].end());
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
