// Test-only: the CPU engine's sequence_decoder (engine/sequence_decoder.h) with a paged cache's
// contract, as the GPU's (engine/cuda/batch_decoder.h) keeps it, on the same block accounting
// (kernels/kv_block_pool.h): positions in blocks of block_size drawn from a pool of `blocks` as a
// slot grows, all or none (resource_exhausted before any change), returned by reset; max_len at
// most the pool. So batch_generator's scheduling of a paged decoder is tested without a GPU;
// refused() counts the calls the pool turned down (a scheduler that asks first never sees one).
// prefix_caching: the pool caches full blocks and reuse_prefix attaches them as the GPU's does
// (shared blocks, counted once); the CPU cache, which cannot share rows, computes the attached
// prefix itself (no logits), so answers stay the CPU engine's while the block accounting is the
// GPU's. reused() counts the tokens attached.
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
  paged_decoder(const engine::model& m, int64_t slots, int64_t block_size, int64_t blocks,
                bool prefix_caching = false)
      : forwarding_decoder(engine::make_cpu_decoder(m, slots)),
        pool_(slots, blocks, block_size, prefix_caching),
        rope_(m.config.rope),
        len_(static_cast<size_t>(slots), 0),
        lr_(static_cast<size_t>(slots), false) {}
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
  int64_t held_prefix_blocks(const int32_t* ids, int64_t n, int64_t rope_len) const override {
    return pool_.held_prefix_blocks(ids, n, long_rope(rope_len == 0 ? n : rope_len));
  }
  int64_t reuse_prefix(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len) override {
    if (len_[size_t(s)] != 0 || n < 1) return 0;
    if (rope_len == 0) rope_len = n;
    const int64_t have = pool_.attach_prefix(s, ids, n, long_rope(rope_len));
    if (have == 0) return 0;
    inner().reset(s);
    if (!inner().prefill(s, ids, have, rope_len, nullptr).ok()) {
      pool_.release(s);
      return 0;
    }
    len_[size_t(s)] = have;
    lr_[size_t(s)] = long_rope(rope_len);
    reused_ += have;
    return have;
  }
  void reset(int64_t s) override {
    pool_.release(s);
    len_[size_t(s)] = 0;
    inner().reset(s);
  }
  status prefill(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                 std::vector<float>* logits) override {
    KAITO_TRY(grow(s, ids, n, rope_len));
    return inner().prefill(s, ids, n, rope_len, logits);
  }
  status prefill_rows(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len,
                      std::vector<float>* logits) override {
    KAITO_TRY(grow(s, ids, n, rope_len));
    return inner().prefill_rows(s, ids, n, rope_len, logits);
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
    for (size_t b = 0; b < slots.size(); ++b) {
      const int64_t s = slots[b];
      KAITO_TRY(pool_.grow(s, len_[size_t(s)] + 1).take_status());
      ++len_[size_t(s)];
      pool_.append_tokens(s, &ids[b], 1, lr_[size_t(s)]);
    }
    return inner().decode(slots, ids, logits);
  }
  int64_t refused() const { return refused_; }
  int64_t reused() const { return reused_; }

 private:
  // A prefill's blocks: all or none, as the GPU's.
  status grow(int64_t s, const int32_t* ids, int64_t n, int64_t rope_len) {
    if (auto grown = pool_.grow(s, len_[size_t(s)] + n); !grown.ok()) {
      ++refused_;
      return grown.error();
    }
    len_[size_t(s)] += n;
    lr_[size_t(s)] = long_rope(rope_len == 0 ? len_[size_t(s)] : rope_len);  // (the slot's factors)
    pool_.append_tokens(s, ids, n, lr_[size_t(s)]);
    return {};
  }
  // longrope's factors for a forward over rope_len tokens (as the GPU decoder keeps per slot)
  bool long_rope(int64_t rope_len) const {
    return rope_.kind == engine::rope_type::longrope &&
           rope_len > rope_.original_max_position_embeddings;
  }
  kv_block_pool pool_;
  engine::rope_config rope_;
  std::vector<int64_t> len_;
  std::vector<bool> lr_;  // each slot's longrope factors (long), as its prefill set them
  int64_t refused_ = 0, reused_ = 0;
};

}  // namespace kaito::testing
