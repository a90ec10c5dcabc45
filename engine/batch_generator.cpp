// Continuous batching; see batch_generator.h.
#include "engine/batch_generator.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "engine/batch_request.h"
#include "engine/sampling.h"
#include "engine/sequence_decoder.h"
#include "engine/token_filter.h"
#include "kernels/parallel_for.h"

namespace kaito::engine {

namespace {

using request_ptr = std::shared_ptr<batch_generator::request>;

void finish(const request_ptr& r, status error = {}) {
  std::lock_guard lock(r->mu);
  r->done = true;
  r->error = std::move(error);
  r->cv.notify_all();
}

// r's next token, drawn from r->logits (generate()'s draw: its sampling params, its draw index),
// and its log-probabilities when r's caller asked for them.
struct draw_result {
  int32_t token = -1;
  step_logprobs lp;
};
draw_result draw(const batch_generator::request& r) {
  draw_result d;
  std::vector<float> allowed = r.logits;  // (token_logits and logprobs: the model's)
  if (r.opt.filter) r.opt.filter->mask(allowed);
  d.token = sample_token(std::move(allowed), r.opt.sampling, r.seq, static_cast<uint64_t>(r.drawn));
  if (r.want_logprobs) d.lp = logprobs_of(r.logits, d.token, r.opt.top_logprobs);
  return d;
}

// The draws of a decode step's answers: sample_token is pure and each answer's own, so they run
// on the CPU kernels' worker pool (kernels/parallel_for.h), the same tokens for any thread count.
// A step of 16 answers with top_p costs the host several milliseconds drawn one by one, which the
// GPU would otherwise wait for.
std::vector<draw_result> draw_all(const std::vector<request_ptr>& rs) {
  std::vector<draw_result> next(rs.size());
  parallel_for(static_cast<int64_t>(rs.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      if (!rs[static_cast<size_t>(i)]->cancelled.load())
        next[static_cast<size_t>(i)] = draw(*rs[static_cast<size_t>(i)]);
  });
  return next;
}

// Records d, r's drawn token, as generate()'s loop body does; false when the sequence has ended
// (at max_len positions: max_position_embeddings or the decoder's) or was cancelled.
bool emit(int64_t max_len, const request_ptr& r, draw_result d) {
  const int32_t next = d.token;
  if (r->cancelled.load() || next < 0) {
    finish(r);
    return false;
  }
  ++r->drawn;
  r->seq.push_back(next);
  if (r->opt.filter) r->opt.filter->advance(next);
  {
    std::lock_guard lock(r->mu);
    r->tokens.push_back(next);
    if (r->want_logits) r->token_logits.push_back(r->logits);
    if (r->want_logprobs) r->token_logprobs.push_back(std::move(d.lp));
    r->cv.notify_all();
  }
  const auto& stops = r->opt.stop_tokens;
  const bool ended = std::find(stops.begin(), stops.end(), next) != stops.end() ||
                     r->drawn >= r->opt.max_new_tokens ||
                     static_cast<int64_t>(r->seq.size()) >= max_len;
  if (ended) finish(r);
  return !ended;
}

}  // namespace

namespace {

batch_generator_options sane(batch_generator_options o, const sequence_decoder& d) {
  o.max_batch = std::clamp<int64_t>(o.max_batch, 1, std::max<int64_t>(d.slots(), 1));
  o.prefill_chunk = std::max<int64_t>(o.prefill_chunk, 0);
  o.kv_budget_tokens = std::max<int64_t>(o.kv_budget_tokens, 0);
  return o;
}

// Slots n-1 .. 0 (taken from the back: 0 first).
std::vector<int64_t> make_slots(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = n - 1; i >= 0; --i) v.push_back(i);
  return v;
}

}  // namespace

// o_ and free_slots_ are settled before the decode thread starts (thread_ is the last member).
batch_generator::batch_generator(const model& m, batch_generator_options o)
    : batch_generator(m.config, make_cpu_decoder(m, std::max<int64_t>(o.max_batch, 1)), o) {}

batch_generator::batch_generator(const model_config& c, std::unique_ptr<sequence_decoder> d,
                                 batch_generator_options o)
    : c_(c),
      d_(std::move(d)),
      o_(sane(o, *d_)),
      free_slots_(make_slots(o_.max_batch)),
      kv_blocks_(d_->kv_blocks()),
      kv_budget_(o_.kv_budget_tokens),
      kv_free_(d_->free_blocks()),
      thread_([this] { loop(); }) {}

int64_t batch_generator::max_len() const {
  return std::min(c_.max_position_embeddings, d_->max_len());
}

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

int64_t batch_generator::chunk_of(const request& r) const {
  int64_t n = r.target - r.prefilled;
  if (o_.prefill_chunk > 0) n = std::min(n, o_.prefill_chunk);
  if (d_->max_prefill() > 0) n = std::min(n, d_->max_prefill());
  return n;
}

// The start of a prefill round (the first, or a preempted answer's again): its cache reset, then
// the cached prefix of its target tokens a paged decoder holds attached (and skipped). Once per
// round.
void batch_generator::begin_prefill(request& r) {
  if (r.begun) return;
  r.begun = true;
  const int64_t P = r.target;
  d_->reset(r.slot);
  d_->set_adapter(r.slot, r.opt.lora);  // (kept through a longrope re-prefill's resets)
  r.prefilled = r.reuses_prefix() ? d_->reuse_prefix(r.slot, r.seq.data(), P, P) : 0;
  if (!r.prompt_lps_done) r.prompt_lps.clear();  // (a prompt preempted part-way: again)
  prefix_queries_ += P;
  prefix_hits_ += r.prefilled;
  if (!r.started) r.cached = r.prefilled;  // (a resumed answer's own blocks do not count)
  r.started = true;
}

bool batch_generator::fork_prompt(const request_ptr& r, const std::vector<request_ptr>& active) {
  // Only a fresh prompt prefilled the plain way (prompt logprobs take every row's logits, whose
  // last row may differ in summation order from the plain prefill's).
  const int64_t P = r->target;
  if (d_->kv_block_size() > 0 || r->begun || r->want_prompt_logprobs ||
      P != static_cast<int64_t>(r->prompt.size()))
    return false;
  for (const auto& s : active) {
    if (s->prompt_logits.empty() || s->prompt != r->prompt ||
        lora_id(s->opt.lora) != lora_id(r->opt.lora))
      continue;
    begin_prefill(*r);
    if (!d_->fork_prefix(s->slot, r->slot, P)) continue;
    prefix_hits_ += P - r->prefilled;  // (begin_prefill counted what reuse_prefix attached)
    r->prefilled = P;
    r->logits = s->prompt_logits;
    r->cached = P;
    return true;
  }
  return false;
}

// One chunk of r's target tokens into its cache (the round begun first); true once they are all
// in and r->logits holds the next draw's. An error finishes r.
bool batch_generator::prefill_chunk(const std::shared_ptr<request>& r) {
  const int64_t P = r->target;
  begin_prefill(*r);
  const int64_t n = chunk_of(*r);
  const bool last = r->prefilled + n == P;  // only the last chunk's logits are drawn from
  const int32_t* ids = r->seq.data() + r->prefilled;
  status st;
  if (!r->prompt_lps_done && r->want_prompt_logprobs) {
    // prompt logprobs: every row's logits (the last row's are the next draw's)
    std::vector<float> rows;
    const size_t V = static_cast<size_t>(c_.vocab_size);
    st = d_->prefill_rows(r->slot, ids, n, P, &rows);
    if (st.ok() && rows.size() != static_cast<size_t>(n) * V)
      st = status(status_code::internal, "the decoder returned " + std::to_string(rows.size()) +
                                             " logits for " + std::to_string(n) + " rows");
    if (st.ok()) {
      for (step_logprobs& e :
           prompt_logprobs_of(rows, c_.vocab_size, r->prompt, r->prefilled, r->opt.top_logprobs))
        r->prompt_lps.push_back(std::move(e));
      if (last) {
        r->logits.assign(rows.end() - static_cast<std::ptrdiff_t>(V), rows.end());
        r->prompt_lps_done = true;
        std::lock_guard lock(r->mu);
        r->ready_prompt_lps = std::move(r->prompt_lps);
        r->prompt_lps_ready = true;
        r->cv.notify_all();
      }
    }
  } else {
    st = d_->prefill(r->slot, ids, n, P, last ? &r->logits : nullptr);
  }
  if (!st.ok()) {
    note_failure(st);
    finish(r, st);
    return false;
  }
  r->prefilled += n;
  return r->prefilled == P;
}

void batch_generator::note_failure(const status& st) {
  if (st.ok() || st.code() == status_code::invalid_argument) return;
  std::lock_guard lock(mu_);
  if (failure_.ok()) failure_ = st;
}

status batch_generator::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void batch_generator::release_slot(const std::shared_ptr<request>& r) {
  if (r->slot < 0) return;
  d_->reset(r->slot);  // (a paged cache's blocks go back to the pool now)
  free_slots_.push_back(r->slot);
  r->slot = -1;
}

bool batch_generator::reprefill(const std::shared_ptr<request>& r) {
  const int64_t total = static_cast<int64_t>(r->seq.size());
  const int64_t step = d_->max_prefill() > 0 ? d_->max_prefill() : total;
  d_->reset(r->slot);
  for (int64_t done = 0; done < total; done += step) {
    const int64_t n = std::min(step, total - done);
    auto st = d_->prefill(r->slot, r->seq.data() + done, n, total,
                          done + n == total ? &r->logits : nullptr);
    if (!st.ok()) {
      note_failure(st);
      finish(r, st);
      return false;
    }
  }
  return true;
}

void batch_generator::loop() {
  const int64_t limit = max_len();
  std::vector<request_ptr> active;
  std::deque<request_ptr> prefilling;  // admitted, prompt not all in the cache yet
  for (;;) {
    int64_t idle_room = -1;
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
      const bool paged = d_->kv_block_size() > 0;
      int64_t spare = paged ? spare_blocks(active, prefilling) : 0;
      while (!waiting_.empty() &&
             static_cast<int64_t>(active.size() + prefilling.size()) < o_.max_batch) {
        const int64_t need = waiting_.front()->reserved;
        const bool alone = active.empty() && prefilling.empty();
        if (budget > 0 && reserved + need > budget && !alone) break;  // waits for KV room
        // a paged cache: room for its whole prefill and first token, or it waits (vLLM's
        // admission; alone it always fits)
        const int64_t blocks = paged ? admission_blocks(*waiting_.front(), free_slots_.back()) : 0;
        if (paged && blocks > spare && !alone) break;
        spare -= blocks;
        reserved += need;
        waiting_.front()->slot = free_slots_.back();  // (max_batch slots: one is free)
        free_slots_.pop_back();
        prefilling.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      reserved_ = reserved;
      running_ = static_cast<int64_t>(active.size() + prefilling.size());
      peak_running_ = std::max(peak_running_.load(), running_.load());
      running_loras_ = adapters_of(active, prefilling);
      // Ended answers' caches a decoder keeps for their prefixes get what the budget leaves.
      if (budget > 0) idle_room = std::max<int64_t>(budget - reserved, 0);
    }
    if (idle_room >= 0) d_->trim_idle_cache(idle_room);
    // A paged cache: the running answers' next step first (the newest give their blocks back
    // while it would not fit).
    make_room(active, prefilling);
    // Prefill: one chunk of the oldest admitted prompt per step, so a long prompt delays the
    // running answers by a chunk at a time, not by its whole prefill. In a paged cache a chunk
    // the running answers leave no blocks for (the last one's with its first decoded token, as
    // it joins this step) sends its prompt back to wait.
    if (!prefilling.empty() && d_->kv_block_size() > 0) {
      request_ptr r = prefilling.front();
      if (!r->cancelled.load()) begin_prefill(*r);  // (what a cached prefix spares is known now)
      const int64_t upto = r->prefilled + chunk_of(*r);
      const int64_t blocks = d_->blocks_needed(r->slot, upto == r->target ? upto + 1 : upto);
      if (!r->cancelled.load() && blocks > d_->free_blocks() - step_blocks(active)) {
        prefilling.pop_front();
        preempt(r);
      }
    }
    if (!prefilling.empty()) {
      request_ptr r = prefilling.front();
      if (r->cancelled.load()) {
        finish(r);
        prefilling.pop_front();
        release_slot(r);
      } else if (fork_prompt(r, active) || prefill_chunk(r)) {
        prefilling.pop_front();
        // kept for a request with the same prompt to fork from (an unpaged decoder's)
        if (d_->kv_block_size() == 0 && !r->want_prompt_logprobs) r->prompt_logits = r->logits;
        if (r->opt.max_new_tokens <= 0) {  // the prompt's logprobs alone
          finish(r);
          release_slot(r);
        } else if (emit(limit, r, draw(*r)))
          active.push_back(r);
        else
          release_slot(r);
      } else {
        std::lock_guard lock(r->mu);
        if (r->done) {  // the prefill failed
          prefilling.pop_front();
          release_slot(r);
        }
      }
    }
    // Every active sequence's last token is not in its cache yet: one step feeds it.
    std::vector<request_ptr> step;
    std::vector<int64_t> slots;
    std::vector<int32_t> ids;
    std::vector<request_ptr> next;
    for (auto& r : active) {
      if (r->cancelled.load()) {
        finish(r);
        continue;
      }
      const int64_t total = static_cast<int64_t>(r->seq.size());
      if (d_->needs_reprefill(r->slot, total)) {  // longrope switch: this one alone
        if (reprefill(r) && emit(limit, r, draw(*r))) next.push_back(r);
        continue;
      }
      step.push_back(r);
      slots.push_back(r->slot);
      ids.push_back(r->seq.back());
    }
    if (!step.empty()) {
      std::vector<float> logits;
      auto st = d_->decode(slots, ids, &logits);
      const size_t V = static_cast<size_t>(c_.vocab_size);
      if (st.ok() && logits.size() != step.size() * V)
        st = status(status_code::internal, "the decoder returned " + std::to_string(logits.size()) +
                                               " logits for " + std::to_string(step.size()) +
                                               " sequences");
      note_failure(st);
      if (!st.ok()) {
        for (const auto& r : step) finish(r, st);
      } else {
        for (size_t b = 0; b < step.size(); ++b)
          step[b]->logits.assign(logits.begin() + b * V, logits.begin() + (b + 1) * V);
        std::vector<draw_result> draws = draw_all(step);
        for (size_t b = 0; b < step.size(); ++b)
          if (emit(limit, step[b], std::move(draws[b]))) next.push_back(step[b]);
      }
    }
    // the slots of every request that ended go back
    for (const auto& r : active)
      if (std::find(next.begin(), next.end(), r) == next.end()) release_slot(r);
    active = std::move(next);
    kv_free_ = d_->free_blocks();
    running_ = static_cast<int64_t>(active.size() + prefilling.size());
    {
      std::vector<std::string> loras = adapters_of(active, prefilling);
      std::lock_guard lock(mu_);
      running_loras_ = std::move(loras);
    }
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

}  // namespace kaito::engine
