// generate: decoding with a KV cache (one sequence), greedy or sampled (sampling.h), optionally
// through a LoRA adapter applied at run time (unmerged, PEFT's inference path).
//
// The prompt is prefilled in one chunk; each new token then runs the layers for that token only,
// appending its RoPE'd K and V (per layer, (L, NKV*HS)) to the cache, and attends to the cache
// with attention_forward_cached_cpu (kernels/attention.h): O(L) per layer per decoded token.
// Longrope policy (transformers Phi3ForCausalLM, qlora.md pitfall 1): the short/long factor choice
// follows the current total length; when it flips (length crosses
// original_max_position_embeddings) the cache is dropped and the whole sequence re-prefilled, so
// cached keys never mix the two rotations.
//
// Thread-safety: the model and adapter are read-only; one generation per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_weights.h"
#include "engine/sampling.h"
#include "engine/served_lora.h"

namespace kaito::engine {

class token_filter;  // engine/token_filter.h

struct generate_options {
  int64_t max_new_tokens = 32;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these (it is kept)
  sampling_params sampling;          // temperature 0 (the default): greedy
  // When set, the logits (V floats) each generated token was drawn from are appended here.
  std::vector<float>* step_logits = nullptr;
  // When set, each generated token's log-probability and the top_logprobs most likely tokens'
  // (sampling.h logprobs_of: the model's, before the sampling processors) are appended here.
  std::vector<step_logprobs>* logprobs = nullptr;
  int64_t top_logprobs = 0;
  // When set, the prompt's own log-probabilities (sampling.h prompt_logprobs_of, top_logprobs
  // alternatives each) are appended here before any token is drawn: entry i for prompt token
  // i + 1, P - 1 entries. The whole prompt is computed then (batch_generator: no cached prefix
  // reused); max_new_tokens may be 0 (the prompt's logprobs alone).
  std::vector<step_logprobs>* prompt_logprobs = nullptr;
  // When set, constrains each draw to the tokens it allows (token_filter.h: response_format
  // json_object) and is advanced with each drawn token; one generation's own, never shared.
  std::shared_ptr<token_filter> filter;
  // When set (batch_generator), gets the prompt tokens a decoder's prefix cache held (a paged
  // decoder's blocks, the CPU's idle caches), whose prefill was skipped (0: none; generate()
  // alone never has any).
  int64_t* cached_prompt_tokens = nullptr;
  // batch_generator: the LoRA adapter it runs with, unmerged (sequence_decoder::set_adapter;
  // null, the default: the base weights). generate() alone takes its lora argument.
  served_lora_ptr lora;
  // When set, called with each token as it is drawn (after it is appended); false ends the
  // generation there (the token is kept): streaming, stop strings, a client gone.
  std::function<bool(int32_t token)> on_token;
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
