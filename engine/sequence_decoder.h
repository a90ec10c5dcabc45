// sequence_decoder: the KV-cache steps continuous batching (engine/batch_generator.h) is made
// of, over numbered slots that each hold one sequence. Two engines implement it: the CPU's
// (cpu_sequence_decoder below: engine/kv_decode.h, fp32) and the GPU's
// (engine/cuda_hf/gpu_sequence_decoder.h: engine/cuda/batch_decoder.h, bf16, NF4 or bf16 base).
//
//   d.reset(s); d.prefill(s, ids, n, P, &logits);   // n prompt tokens appended to slot s
//   d.decode({s1, s2}, {t1, t2}, &logits);          // one token each, (2, V) logits
//
// prefill appends n tokens to slot s at positions length..length+n-1 (n <= max_prefill() when
// that is > 0), rotated with the rope factors of a forward over rope_len tokens (a prompt
// prefilled in chunks passes its whole length to each chunk); logits gets the last one's V
// logits (null: no head, for a chunk before the last). decode feeds ids[b] to slots[b] (distinct,
// non-empty) at their own positions; logits gets (B, V). needs_reprefill says when a slot growing
// to seq_len must be reset and prefilled again (longrope crossing
// original_max_position_embeddings). A slot holds at most max_len() tokens. After a failed call the
// slots it named must be reset. Thread-safety: one thread at a time (batch_generator's decode
// thread).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/model_weights.h"
#include "engine/served_lora.h"

namespace kaito::engine {

class sequence_decoder {
 public:
  virtual ~sequence_decoder() = default;
  virtual int64_t slots() const = 0;
  virtual int64_t max_len() const = 0;
  virtual int64_t max_prefill() const = 0;  // 0: any
  // Bytes of KV cache one position of one sequence takes, and whether the decoder allocated its
  // whole cache up front (the GPU's: its block pool, so no budget applies) or grows it as
  // sequences do (the CPU's, which a server bounds with batch_generator's kv_budget_tokens).
  virtual int64_t kv_bytes_per_token() const = 0;
  virtual bool kv_preallocated() const = 0;
  // A paged cache (the GPU's, vLLM's layout): positions live in blocks of kv_block_size() tokens
  // drawn from one pool of kv_blocks() as sequences grow (prefill and decode draw them, reset
  // returns them); a call needing more than free_blocks() fails with resource_exhausted before
  // any change. blocks_needed: what the slot must still draw to hold len tokens. An unpaged
  // decoder (the CPU's, whose caches grow) answers block size 0, 0 blocks, -1 free, 0 needed.
  virtual int64_t kv_block_size() const { return 0; }
  virtual int64_t kv_blocks() const { return 0; }
  virtual int64_t free_blocks() const { return -1; }
  virtual int64_t blocks_needed(int64_t /*slot*/, int64_t /*len*/) const { return 0; }
  // Prefix caching (a paged decoder's, vLLM's automatic prefix caching): on an empty slot,
  // attaches the cached blocks holding the longest prefix of ids[0..n) (whole blocks, fewer than
  // n tokens, rotated with rope_len's factors) and returns how many tokens they hold; the slot
  // then holds them, and prefill goes on from there. 0: nothing reused. The CPU's copies the
  // longest such prefix (any length below n) of an ended sequence's cache it kept.
  virtual int64_t reuse_prefix(int64_t /*slot*/, const int32_t* /*ids*/, int64_t /*n*/,
                               int64_t /*rope_len*/) {
    return 0;
  }
  // Of the blocks reuse_prefix(ids, n, rope_len) would attach to an empty slot now, those other
  // slots hold (so attaching them draws nothing free: the others are idle cached blocks, which
  // free_blocks() counts). Changes nothing; 0 without prefix caching.
  virtual int64_t held_prefix_blocks(const int32_t* /*ids*/, int64_t /*n*/,
                                     int64_t /*rope_len*/) const {
    return 0;
  }
  // Copies the first n cached positions of slot `from` into the slot `to` (empty, or holding a
  // prefix of them reuse_prefix attached), for a prompt
  // `from` prefilled first (the caller checked: the same n tokens, prefilled as one round with
  // rope_len n, as the n choices of one request are). True when copied: `to` then holds what its
  // own prefill would have computed, bit for bit. False: nothing copied, because those positions
  // are no longer as that prefill left them (longrope re-prefilled them) or the decoder does not
  // fork (the default; a paged decoder shares the blocks through reuse_prefix instead).
  virtual bool fork_prefix(int64_t /*from*/, int64_t /*to*/, int64_t /*n*/) { return false; }
  // A decoder that keeps ended sequences' caches for reuse_prefix while no slot holds them (the
  // CPU's, engine/idle_kv_cache.h) keeps at most `tokens` positions of them from now on: the KV
  // budget's room the running answers leave. No-op by default.
  virtual void trim_idle_cache(int64_t /*tokens*/) {}
  // Multi-LoRA serving (vLLM's --lora-modules): a decoder that serves_loras() runs each slot with
  // its own unmerged adapter, set_adapter's (null: the base weights alone), set on an empty slot
  // (just reset) before reuse_prefix (cached prefixes are per served_lora::id). It stays until set
  // again; a decode batch may mix them. One that does not (the default, and the GPU's: it merges
  // adapters at load) ignores set_adapter; batch_generator refuses adapters for it.
  virtual bool serves_loras() const { return false; }
  virtual void set_adapter(int64_t /*slot*/, served_lora_ptr /*lora*/) {}
  virtual void reset(int64_t slot) = 0;
  virtual status prefill(int64_t slot, const int32_t* ids, int64_t n, int64_t rope_len,
                         std::vector<float>* logits) = 0;
  // prefill, with logits getting every one of the n rows' logits ((n, V); row i: the
  // distribution of the token after ids[i]), for prompt logprobs. Both engines implement it;
  // unimplemented by default.
  virtual status prefill_rows(int64_t /*slot*/, const int32_t* /*ids*/, int64_t /*n*/,
                              int64_t /*rope_len*/, std::vector<float>* /*logits*/) {
    return status(status_code::unimplemented, "this engine does not give prompt logprobs",
                  "prompt_logprobs");
  }
  virtual bool needs_reprefill(int64_t slot, int64_t seq_len) const = 0;
  virtual status decode(const std::vector<int64_t>& slots, const std::vector<int32_t>& ids,
                        std::vector<float>* logits) = 0;
};

// The CPU engine's: `slots` kv_caches that grow with their sequences (fp32), max_len the model's
// max_position_embeddings. A reset slot's cache is kept for reuse_prefix (engine/
// idle_kv_cache.h), up to idle_bytes of them (and trim_idle_cache's room); 0 keeps none. It
// serves LoRA adapters (each must fit m's config, as load_peft_adapter checks). The model must
// outlive it.
inline constexpr int64_t kDefaultIdleKvBytes = int64_t(256) << 20;
std::unique_ptr<sequence_decoder> make_cpu_decoder(const model& m, int64_t slots,
                                                   int64_t idle_bytes = kDefaultIdleKvBytes);

}  // namespace kaito::engine
