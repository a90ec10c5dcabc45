// generate: decoding with a KV cache (one sequence), greedy or sampled (sampling.h), optionally
// through a LoRA adapter applied at run time (unmerged, PEFT's inference path).
//
// The prompt is prefilled in one chunk; each new token then runs the layers for that token only,
// appending its RoPE'd K and V (per layer, (L, NKV*HS)) to the cache. Attention of the new rows
// against the cache reuses kernels/attention.h over the whole cached length with the query rows
// of cached positions left at zero (causal rows are independent, so the new rows are exact); a
// dedicated decode-attention kernel (1 query row against L keys) would make that step O(L).
// Longrope policy (transformers Phi3ForCausalLM, qlora.md pitfall 1): the short/long factor choice
// follows the current total length; when it flips (length crosses
// original_max_position_embeddings) the cache is dropped and the whole sequence re-prefilled, so
// cached keys never mix the two rotations.
//
// Thread-safety: the model and adapter are read-only; one generation per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/sampling.h"

namespace kaito::engine {

struct generate_options {
  int64_t max_new_tokens = 32;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these (it is kept)
  sampling_params sampling;          // temperature 0 (the default): greedy
};

// Returns the generated tokens (not the prompt); draw i uses rng_uniform(sampling.seed, i).
// invalid_argument for an empty prompt or ids out of range; the total length is capped at
// max_position_embeddings.
result<std::vector<int32_t>> generate(const model& m, const lora_adapter* lora,
                                      const std::vector<int32_t>& prompt,
                                      const generate_options& opt);

// generate() with greedy decoding whatever opt.sampling says.
result<std::vector<int32_t>> generate_greedy(const model& m, const lora_adapter* lora,
                                             const std::vector<int32_t>& prompt,
                                             const generate_options& opt);

}  // namespace kaito::engine
