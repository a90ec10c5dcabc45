// idle_kv_cache: the CPU engine's prefix cache across requests. When a slot of the CPU
// sequence_decoder is reset (its answer ended), its KV cache and the tokens it holds are kept
// here instead of freed; a later prompt that starts with the same tokens (the next turn of a chat,
// which repeats the conversation so far; a shared system prompt) copies those positions into its
// slot and prefills only the rest (sequence_decoder::reuse_prefix). llama.cpp's server keeps its
// slots' caches for the same reason (cache_prompt); vLLM's automatic prefix caching is the paged
// decoder's version.
//
//   idle_kv_cache idle(config, max_tokens);
//   idle.put(lora, std::move(ids), std::move(cache));      // a finished slot's
//   int64_t m = idle.take_prefix(lora, ids, n, rope_len, slot_cache);   // 0..n-1 copied
//   idle.trim(room);                                  // at most `room` tokens kept
//
// take_prefix copies the longest common prefix of ids[0..n) among the entries, at most n - 1
// tokens (the prompt's last token is prefilled for its logits), from an entry whose keys were
// rotated as a prefill of rope_len would rotate them (longrope: the same factors) and computed
// with the same weights (`lora`: the slot's served_lora id, 0 the base), into an empty
// cache; the entry stays (another prompt may share it) and becomes the most recently used. The
// positions equal the slot's own prefill up to summation order (an answer's positions were
// decoded a token at a time). Entries are evicted least recently used first, past max_tokens
// (the constructor's) or trim's room; an entry whose tokens another entry starts with is
// dropped as covered (entries of one adapter only).
//
// Thread-safety: one thread at a time (the decoder's).
#pragma once

#include <cstdint>
#include <list>
#include <vector>

#include "engine/kv_decode.h"
#include "engine/model_config.h"

namespace kaito::engine {

class idle_kv_cache {
 public:
  idle_kv_cache(const model_config& c, int64_t max_tokens) : c_(c), max_tokens_(max_tokens) {}

  void put(uint64_t lora, std::vector<int32_t> ids, kv_cache cache);
  int64_t take_prefix(uint64_t lora, const int32_t* ids, int64_t n, int64_t rope_len,
                      kv_cache& into);
  void trim(int64_t room);
  int64_t tokens() const { return tokens_; }
  size_t entries() const { return entries_.size(); }

 private:
  struct entry {
    uint64_t lora = 0;
    std::vector<int32_t> ids;
    kv_cache cache;
  };
  const model_config& c_;
  const int64_t max_tokens_;
  std::list<entry> entries_;  // the most recently used first
  int64_t tokens_ = 0;
};

}  // namespace kaito::engine
