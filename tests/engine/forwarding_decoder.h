// Test-only: a sequence_decoder (engine/sequence_decoder.h) that forwards every call to an inner
// one (the CPU engine's, or the GPU's), for test doubles that change a call or two
// (failing_decoder.h, paged_decoder.h) and for tests that must order the decode thread against
// their callers: hold_first_decode(until) makes the first decode call wait (up to 10 s) until
// until() is true, so every request can be queued before any step runs and the scheduling that
// follows depends on nothing but the requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/sequence_decoder.h"

namespace kaito::testing {

class forwarding_decoder : public engine::sequence_decoder {
 public:
  explicit forwarding_decoder(std::unique_ptr<engine::sequence_decoder> inner)
      : d_(std::move(inner)) {}
  int64_t slots() const override { return d_->slots(); }
  int64_t max_len() const override { return d_->max_len(); }
  int64_t max_prefill() const override { return d_->max_prefill(); }
  int64_t kv_bytes_per_token() const override { return d_->kv_bytes_per_token(); }
  bool kv_preallocated() const override { return d_->kv_preallocated(); }
  int64_t kv_block_size() const override { return d_->kv_block_size(); }
  int64_t kv_blocks() const override { return d_->kv_blocks(); }
  int64_t free_blocks() const override { return d_->free_blocks(); }
  int64_t blocks_needed(int64_t s, int64_t len) const override { return d_->blocks_needed(s, len); }
  int64_t held_prefix_blocks(const int32_t* ids, int64_t n, int64_t rope_len) const override {
    return d_->held_prefix_blocks(ids, n, rope_len);
  }
  int64_t reuse_prefix(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len) override {
    return d_->reuse_prefix(s, ids, n, rope_len);
  }
  bool fork_prefix(int64_t from, int64_t to, int64_t n) override {
    return d_->fork_prefix(from, to, n);
  }
  void trim_idle_cache(int64_t tokens) override { d_->trim_idle_cache(tokens); }
  bool serves_loras() const override { return d_->serves_loras(); }
  void set_adapter(int64_t s, engine::served_lora_ptr lora) override {
    d_->set_adapter(s, std::move(lora));
  }
  void reset(int64_t s) override { d_->reset(s); }
  status prefill(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    return d_->prefill(s, ids, n, rope_len, logits);
  }
  status prefill_rows(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                      std::vector<float>* logits) override {
    return d_->prefill_rows(s, ids, n, rope_len, logits);
  }
  bool needs_reprefill(int64_t s, int64_t len) const override {
    return d_->needs_reprefill(s, len);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    wait_if_held();
    return d_->decode(slots, ids, logits);
  }

  void hold_first_decode(std::function<bool()> until) { until_ = std::move(until); }

 protected:
  engine::sequence_decoder& inner() { return *d_; }
  // decode()'s first step: the hold, once.
  void wait_if_held() {
    if (!until_) return;
    for (int i = 0; i < 2000 && !until_(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    until_ = nullptr;
  }

 private:
  std::unique_ptr<engine::sequence_decoder> d_;
  std::function<bool()> until_;
};

}  // namespace kaito::testing
