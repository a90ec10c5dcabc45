// batch_generator's scheduling of a paged decoder (see batch_generator.h): the blocks the next
// step draws, room for newcomers, and preemption by recompute, as vLLM schedules its pool.
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/batch_generator.h"
#include "engine/batch_request.h"
#include "engine/sequence_decoder.h"

namespace kaito::engine {

int64_t batch_generator::step_blocks(const std::vector<request_ptr>& active) const {
  int64_t n = 0;  // each answer's cache grows to seq.size() tokens in the next step
  for (const auto& r : active) n += d_->blocks_needed(r->slot, static_cast<int64_t>(r->seq.size()));
  return n;
}

void batch_generator::preempt(const request_ptr& r) {
  release_slot(r);
  r->target = static_cast<int64_t>(r->seq.size());
  r->prefilled = 0;
  r->begun = false;
  ++preemptions_;
  std::lock_guard lock(mu_);
  waiting_.push_front(r);
}

void batch_generator::make_room(std::vector<request_ptr>& active,
                                std::deque<request_ptr>& prefilling) {
  if (d_->kv_block_size() <= 0) return;
  while (step_blocks(active) > d_->free_blocks()) {
    request_ptr victim;  // a prompt part-way in, newest first; else the newest running answer
    for (size_t i = prefilling.size(); i-- > 0;)
      if (prefilling[i]->prefilled > 0) {
        victim = prefilling[i];
        prefilling.erase(prefilling.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    if (!victim) {
      if (active.size() <= 1) return;  // (alone it fits: max_len <= the pool)
      victim = active.back();
      active.pop_back();
    }
    preempt(victim);
  }
}

// Blocks a paged cache has for newcomers: free ones less what the running answers' next step and
// the admitted prompts still to come will draw.
int64_t batch_generator::spare_blocks(const std::vector<request_ptr>& active,
                                      const std::deque<request_ptr>& prefilling) const {
  int64_t n = d_->free_blocks() - step_blocks(active);
  for (const auto& r : prefilling)
    n -= !r->begun ? admission_blocks(*r, r->slot) : d_->blocks_needed(r->slot, r->target + 1);
  return n;
}

// What r's prompt and first token draw from the free blocks when its prefill starts on the empty
// slot: the blocks it needs less the cached prefix blocks other slots hold, which it attaches
// without drawing (a system prompt the running answers share; vLLM counts its computed blocks
// the same way). Idle cached blocks are free ones, so attaching them draws like any other.
int64_t batch_generator::admission_blocks(const request& r, int64_t slot) const {
  const int64_t P = r.target;
  const int64_t held = r.reuses_prefix() ? d_->held_prefix_blocks(r.seq.data(), P, P) : 0;
  return d_->blocks_needed(slot, P + 1) - held;
}

}  // namespace kaito::engine
