// kv_decode: the KV-cache forward steps generation is made of, for one sequence (prefill) or
// several at once (decode_batch, continuous batching).
//
//   kv_cache c; reset_cache(c, cfg.num_layers);
//   prefill(m, lora, c, prompt.data(), P, &logits);          // P tokens at positions 0..P-1
//   (or in chunks: prefill(.., ids + done, n, &logits, P), each appending at c.len)
//   decode_batch(m, lora, {&c1, &c2}, {t1, t2}, &logits2);    // one token each, B = 2
//
// Each cache holds, per layer, the RoPE'd keys and values of its tokens ((len, NKV*HS) row-major).
// prefill runs P new tokens at positions len..len+P-1 and appends theirs; logits gets the last
// row's logits (V floats). decode_batch runs one new token for each of B sequences, each at its
// own position, as one (B, C) activation through every GEMM (each weight is read once for the
// whole batch: decoding is memory-bound), with attention per sequence against its own cache;
// logits gets B rows of V. Row b equals what prefill of that one token on that cache gives, up to
// GEMM summation order. Longrope: a cache remembers which factors its keys were rotated with;
// needs_reprefill() says when a sequence's next length crosses original_max_position_embeddings
// (then: reset_cache and prefill the whole sequence again, as generate() does).
//
// Thread-safety: the model and adapter are read-only; a cache belongs to one caller at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"

namespace kaito::engine {

struct kv_cache {
  std::vector<std::vector<float>> k, v;  // per layer: (len, NKV*HS)
  int64_t len = 0;
  bool long_rope = false;  // which longrope factors the cached keys were rotated with
};

void reset_cache(kv_cache& cache, int64_t layers);

// dst becomes the first n (<= src.len) positions of src, rotated as src's were (its long_rope).
void copy_cache_prefix(const model_config& c, const kv_cache& src, int64_t n, kv_cache& dst);

// invalid_argument for an empty prompt, an id outside the vocabulary (naming prompt[i]) or a
// prompt longer than max_position_embeddings.
status check_prompt(const model_config& c, const std::vector<int32_t>& prompt);

// True when a sequence of total length `seq_len` must be rotated with other longrope factors than
// the cache's keys were.
bool needs_reprefill(const model_config& c, const kv_cache& cache, int64_t seq_len);

// rope_len > 0: rotate with the longrope factors of that total length (a prompt prefilled in
// chunks passes its whole length to each chunk, so its keys equal one prefill's). logits null:
// the head is skipped (a chunk before the last needs none). all_rows: logits gets every one of
// the P rows' logits ((P, V); row i: the distribution of the token after ids[i]), for prompt
// logprobs.
status prefill(const model& m, const lora_adapter* lora, kv_cache& cache, const int32_t* ids,
               int64_t P, std::vector<float>* logits, int64_t rope_len = 0, bool all_rows = false);

// caches[b] gets ids[b]; every cache must be non-empty and its next length must not need a
// re-prefill. logits: (B, V).
status decode_batch(const model& m, const lora_adapter* lora, const std::vector<kv_cache*>& caches,
                    const std::vector<int32_t>& ids, std::vector<float>* logits);

// The same with each sequence's own LoRA (loras[b] for caches[b], unmerged; null: the base
// weights alone): multi-LoRA serving, where one batch decodes answers of several adapters (vLLM's
// --lora-modules). Row b equals decode_batch(m, loras[b], {caches[b]}, ...) up to summation
// order.
status decode_batch(const model& m, const std::vector<const lora_adapter*>& loras,
                    const std::vector<kv_cache*>& caches, const std::vector<int32_t>& ids,
                    std::vector<float>* logits);

}  // namespace kaito::engine
