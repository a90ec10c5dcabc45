// Test-only: the CPU engine's sequence_decoder (engine/sequence_decoder.h) with a paged cache's
// contract, as the GPU's (engine/cuda/batch_decoder.h) keeps it, on the same block accounting
// (kernels/kv_block_pool.h, without prefix caching: the CPU caches cannot share blocks):
// positions in blocks of block_size drawn from a pool of `blocks` as a slot grows, all or none
// (resource_exhausted before any change), returned by reset; max_len at most the pool. So
// batch_generator's scheduling of a paged decoder is tested without a GPU; refused() counts the
// calls the pool turned down (a scheduler that asks first never sees one).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/model_weights.h"
#include "engine/sequence_decoder.h"
#include "kernels/kv_block_pool.h"
#include "tests/engine/forwarding_decoder.h"

namespace kaito::testing {

class paged_decoder final : public forwarding_decoder {
 public:
  paged_decoder(const engine::model& m, int64_t slots, int64_t block_size, int64_t blocks)
      : forwarding_decoder(engine::make_cpu_decoder(m, slots)),
        pool_(slots, blocks, block_size, /*prefix_caching=*/false),
        len_(static_cast<size_t>(slots), 0) {}
  int64_t max_len() const override {
    return std::min(forwarding_decoder::max_len(), pool_.blocks() * pool_.block_size());
  }
  bool kv_preallocated() const override { return true; }
  int64_t kv_block_size() const override { return pool_.block_size(); }
  int64_t kv_blocks() const override { return pool_.blocks(); }
  int64_t free_blocks() const override { return pool_.free_blocks(); }
  int64_t blocks_needed(int64_t s, int64_t len) const override {
    return pool_.blocks_needed(s, len);
  }
  void reset(int64_t s) override {
    pool_.release(s);
    len_[size_t(s)] = 0;
    inner().reset(s);
  }
  status prefill(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    if (auto grown = pool_.grow(s, len_[size_t(s)] + n); !grown.ok()) {
      ++refused_;
      return grown.error();
    }
    len_[size_t(s)] += n;
    return inner().prefill(s, ids, n, rope_len, logits);
  }
  status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                std::vector<float>* logits) override {
    wait_if_held();
    int64_t need = 0;
    for (int64_t s : slots) need += pool_.blocks_needed(s, len_[size_t(s)] + 1);
    if (need > pool_.free_blocks()) {
      ++refused_;
      return status(status_code::resource_exhausted, "the KV cache pool is full", "slots");
    }
    for (int64_t s : slots) {
      KAITO_TRY(pool_.grow(s, len_[size_t(s)] + 1).take_status());
      ++len_[size_t(s)];
    }
    return inner().decode(slots, ids, logits);
  }
  int64_t refused() const { return refused_; }

 private:
  kv_block_pool pool_;
  std::vector<int64_t> len_;
  int64_t refused_ = 0;
};

}  // namespace kaito::testing
