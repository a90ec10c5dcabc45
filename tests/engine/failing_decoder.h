// Test-only: the CPU engine's sequence_decoder (engine/sequence_decoder.h) whose decode steps fail
// with `error` from the `fail_at`th call on, as a device that broke mid-serving would (a sticky
// CUDA error fails every later step). Everything else is the CPU decoder's.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"

namespace kaito::testing {

class failing_decoder final : public engine::sequence_decoder {
 public:
  failing_decoder(const engine::model& m, int64_t slots, int fail_at, status error)
      : d_(engine::make_cpu_decoder(m, slots)), fail_at_(fail_at), error_(std::move(error)) {}
  int64_t slots() const override { return d_->slots(); }
  int64_t max_len() const override { return d_->max_len(); }
  int64_t max_prefill() const override { return d_->max_prefill(); }
  int64_t kv_bytes_per_token() const override { return d_->kv_bytes_per_token(); }
  bool kv_preallocated() const override { return d_->kv_preallocated(); }
  void reset(int64_t s) override { d_->reset(s); }
  status prefill(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    return d_->prefill(s, ids, n, rope_len, logits);
  }
  bool needs_reprefill(int64_t s, int64_t len) const override {
    return d_->needs_reprefill(s, len);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    if (++calls_ >= fail_at_) return error_;
    return d_->decode(slots, ids, logits);
  }

 private:
  std::unique_ptr<engine::sequence_decoder> d_;
  int calls_ = 0, fail_at_;
  status error_;
};

}  // namespace kaito::testing
