// batch_generator: continuous batching for a served model. Many callers generate at once; one
// decode thread runs every active sequence's next token as one batch (sequence_decoder.h's
// decode: each weight read once per step for all of them), so N concurrent requests cost about
// one request's memory traffic per token instead of N.
//
//   batch_generator g(model, {.max_batch = 8});          // the CPU engine (kv_decode.h)
//   batch_generator g(config, std::move(decoder), {..});  // any sequence_decoder (the GPU's)
//   auto out = g.generate(prompt, opt);   // blocks; same contract as engine::generate()
//
// Each admitted request holds one of the decoder's slots (max_batch <= its slots) until it ends.
// Scheduling: a new request waits until a batch slot is free; then the decode thread prefills its
// prompt prefill_chunk tokens per step, between the running answers' steps (so a long prompt
// delays them a chunk at a time; the chunks rotate with the whole prompt's longrope factors, so
// the cache equals one prefill's), and it joins the batch with its first token.
// Each step samples every sequence's next token from its own logits with its own sampling params
// and draw index, so an answer does not depend on what else runs: greedy answers equal
// generate()'s token for token (up to GEMM summation order in the logits). A sequence leaves at
// a stop token, max_new_tokens, max_position_embeddings (or the decoder's max_len), or when its
// on_token returns false;
// longrope sequences crossing original_max_position_embeddings are re-prefilled alone.
// A paged decoder (the GPU's: sequences draw KV blocks from one pool as they grow) is scheduled as
// vLLM schedules one: a request is admitted when the pool has room for its prompt and first
// token after the running answers' next step (or when nothing else runs), cached prefix blocks
// that running answers hold not counted (they are shared, not drawn); when the running
// answers' next step finds too few free blocks, the newest admitted answer is preempted (its
// blocks go back, it waits at the front of the queue, and once readmitted its prompt and answer
// so far are prefilled again and it goes on from its next token: recompute, not swap). Its
// caller sees only a pause; the draws continue from the same draw index, so a greedy answer
// stays the same up to the prefill's summation order in the logits. Every prefill that starts a
// sequence first asks the decoder for a cached prefix of it (sequence_decoder::reuse_prefix) and
// computes only the rest. The CPU's decoder keeps ended answers' caches instead (engine/
// idle_kv_cache.h: the next turn of a chat reuses the conversation so far), within what the KV
// budget's running reservations leave (sequence_decoder::trim_idle_cache); and a prompt that a
// running answer prefilled the same way (the n choices of one request) is copied from its slot
// (sequence_decoder::fork_prefix) with the logits it ended on: the same bits its own prefill
// would give. Both count as prefix hits and as the answer's cached tokens.
// Callbacks (on_token) run on the caller's own thread, fed from a queue, so a slow client never
// stalls the batch; the decode thread may run a token or two past an on_token that returns
// false, and those are dropped (the answer ends exactly at that token, as with generate()).
//
// Thread-safety: generate() may be called from any number of threads; the model must outlive the
// generator. shutdown() (also the destructor's first step; idempotent, any thread) ends every
// running or waiting generation with `unavailable` and joins the decode thread; generate() after
// it answers `unavailable` at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"
#include "engine/generate.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"

namespace kaito::engine {

struct batch_generator_options {
  int64_t max_batch = 8;  // sequences decoded together; more wait for a slot
  // Prompt tokens prefilled per decode step (0: a whole prompt at once). A newcomer's prompt goes
  // in chunk by chunk between the running answers' steps (vLLM's chunked prefill).
  int64_t prefill_chunk = 256;
  // KV cache positions the running answers may reserve together (0: no limit). Each answer
  // reserves its prompt plus max_new_tokens (at most the context); a request that does not fit
  // waits until enough answers end, or runs alone when nothing else does.
  int64_t kv_budget_tokens = 0;
};

class batch_generator {
 public:
  batch_generator(const model& m, batch_generator_options o);
  // The decoder's slots bound max_batch; the decode thread is its only user from here on.
  batch_generator(const model_config& c, std::unique_ptr<sequence_decoder> d,
                  batch_generator_options o);
  ~batch_generator();
  batch_generator(const batch_generator&) = delete;
  batch_generator& operator=(const batch_generator&) = delete;

  result<std::vector<int32_t>> generate(const std::vector<int32_t>& prompt,
                                        const generate_options& opt);
  void shutdown();

  // Sequences being decoded (or prefilled) now, requests waiting for a slot, the most that ever
  // ran at once, the KV positions the running ones reserve, the answers preempted so far, and a
  // paged cache's blocks in all and in use (0 and 0 unpaged).
  struct batch_load {
    int64_t running = 0, waiting = 0, peak_running = 0, reserved_tokens = 0;
    int64_t preemptions = 0, kv_blocks = 0, kv_blocks_used = 0;
    // prompt tokens looked up in a paged decoder's prefix cache (or copied from a running answer
    // with the same prompt, unpaged), and found there
    int64_t prefix_queries = 0, prefix_hits = 0;
    // the names of the LoRA adapters (generate_options::lora) of the running and the waiting
    // requests, each once, sorted (vLLM's lora_requests_info)
    std::vector<std::string> running_loras, waiting_loras;
  };
  batch_load load() const;
  // Changes kv_budget_tokens from the next admission on (a server sizes it once the model is in
  // memory).
  void set_kv_budget_tokens(int64_t tokens);
  // The decoder's first failure of a step that no request's input caused (any error but
  // invalid_argument: a CUDA error, a device lost): ok while none. The requests of that step end
  // with it and later ones still run, but a server reports itself unhealthy so it is restarted
  // (a sticky GPU error fails every later step too).
  status failure() const;

  struct request;  // one generation, shared by its caller and the decode thread

 private:
  using request_ptr = std::shared_ptr<request>;
  void loop();
  int64_t chunk_of(const request& r) const;  // tokens its next prefill call takes
  void begin_prefill(request& r);
  bool prefill_chunk(const std::shared_ptr<request>& r);
  // An unpaged decoder: r's prompt copied from a running answer that prefilled the same one (the
  // n choices of a request) instead of computed again; true when r is ready to draw.
  bool fork_prompt(const request_ptr& r, const std::vector<request_ptr>& active);
  // Paged caches (sequence_decoder::kv_block_size() > 0):
  // the blocks the running answers' next step draws;
  int64_t step_blocks(const std::vector<request_ptr>& active) const;
  // the blocks left for newcomers once that step and the admitted prompts have theirs;
  int64_t spare_blocks(const std::vector<request_ptr>& active,
                       const std::deque<request_ptr>& prefilling) const;
  // what a prompt not started yet will draw (less the prefix blocks other slots hold);
  int64_t admission_blocks(const request& r, int64_t slot) const;
  // preempts the newest (a prompt part-way in first) until the next step fits;
  void make_room(std::vector<request_ptr>& active, std::deque<request_ptr>& prefilling);
  // r's slot and blocks back; r waits at the queue's front to be prefilled again, whole.
  void preempt(const request_ptr& r);
  // The whole sequence again (a longrope switch), in max_prefill() chunks; false on an error.
  bool reprefill(const std::shared_ptr<request>& r);
  int64_t max_len() const;                               // positions a sequence may reach
  void release_slot(const std::shared_ptr<request>& r);  // its slot back to free_slots_
  void note_failure(const status& st);                   // failure_ keeps the first

  const model_config& c_;
  std::unique_ptr<sequence_decoder> d_;
  batch_generator_options o_;
  std::vector<int64_t> free_slots_;  // the decode thread's
  mutable std::mutex mu_;
  std::condition_variable wake_;
  const int64_t kv_blocks_;
  std::atomic<int64_t> running_{0}, peak_running_{0}, reserved_{0}, kv_budget_{0};
  std::atomic<int64_t> preemptions_{0}, kv_free_{0};  // (kv_free_: the decode thread's reading)
  std::atomic<int64_t> prefix_queries_{0}, prefix_hits_{0};
  std::mutex join_mu_;
  std::deque<std::shared_ptr<request>> waiting_;
  std::vector<std::string> running_loras_;  // under mu_ (batch_load::running_loras)
  bool stopping_ = false;
  status failure_;  // under mu_
  std::thread thread_;
};

}  // namespace kaito::engine
