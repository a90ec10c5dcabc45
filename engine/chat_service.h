// chat_service: a Hugging Face model folder ready to answer chats, what `kaito serve` and an
// inference pod run (the transformers runtime's job in Kaito: model, tokenizer, chat template,
// adapters merged, generate).
//
//   auto s = chat_service::load({.model_dir = "phi-3", .adapter_dirs = {"adapter"}});
//   auto a = (*s)->chat(messages, {.max_tokens = 64}, on_piece);   // [{role, content}...]
//
// Loading: config.json + *.safetensors (fp32 on the host), tokenizer.json, tokenizer_config.json
// (chat_template, bos/eos; chat_template_path overrides the template), generation_config.json's
// eos_token_id when present. Each PEFT adapter is merged into the base weights at load
// (W += scale * B A, as PeftModel.merge_and_unload; Kaito's transformers runtime merges too).
// LoRA modules (vLLM's --lora-modules, what Kaito's vLLM runtime makes of inference.adapters)
// stay unmerged instead: an answer asks for one by name (chat_options::lora) and runs with it,
// another in the same batch with another one or with none.
// With make_decoder (the GPU engine) no weights are loaded on the host: the factory loads them
// and the adapters onto its device, and answers run on the decoder it returns.
// Answering: the template renders the messages with add_generation_prompt; generation stops at an
// end token (config / generation_config eos ids, the tokenizer's eos_token) or at max_tokens, or
// when the text reaches one of the stop strings (cut before it, as OpenAI does). Pieces of text go
// to on_piece as they complete (UTF-8 whole); on_piece returning false ends the answer there.
// complete_text continues a plain prompt (Kaito's legacy /chat "prompt" form).
// Errors name the file and field (loading) or the message (answering); a prompt longer than the
// model's context is invalid_argument naming "messages".
// Thread-safety: chat / complete_text may be called from several threads at once: their answers
// are decoded together, up to max_batch at a time (continuous batching, batch_generator.h); the
// others wait for a slot. An answer does not depend on what else is running.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/batch_generator.h"
#include "engine/chat_template.h"
#include "engine/json_schema.h"
#include "engine/model_weights.h"
#include "engine/sampling.h"
#include "engine/sequence_decoder.h"
#include "engine/served_lora.h"
#include "engine/serving_stats.h"
#include "engine/token_filter.h"
#include "engine/tokenizer.h"

namespace kaito::engine {

struct chat_service_config;
// Builds the decoder answers run on from the folder's config.json (c): the GPU's
// (engine/cuda_hf/gpu_sequence_decoder.h), which loads the weights and adapters itself. It serves
// at most cfg.max_batch answers at once and a context of at most c.max_position_embeddings
// (cfg.max_model_len when smaller; less when its memory holds less: the service serves what
// max_len() says).
using decoder_factory = std::function<result<std::unique_ptr<sequence_decoder>>(
    const chat_service_config& cfg, const model_config& c)>;

struct chat_service_config {
  std::string model_dir;
  std::vector<std::string> adapter_dirs;  // PEFT adapters, merged in this order
  // Kaito's inference.adapters[].strength, one per adapter_dirs entry in [0, 1]; empty: all 1.
  // Adapter i is merged as W += strength_i * scale_i * B_i A_i, the exact weighted sum (Kaito's
  // transformers runtime takes the same sum through add_weighted_adapter(combination_type="svd"),
  // which then truncates it to the largest adapter rank: equal for one adapter).
  std::vector<float> adapter_strengths;
  // PEFT adapters kept unmerged, each answering the chats that name it (chat_options::lora):
  // vLLM's --lora-modules NAME=DIR. The CPU engine's only (the GPU engine refuses them).
  struct lora_module_source {
    std::string name, dir;
    // What GET /v1/models shows as the module's root ("": dir): a pod's folder as its
    // container sees it (/mnt/adapter/NAME), not the machine's path to it.
    std::string root;
    const std::string& shown_root() const { return root.empty() ? dir : root; }
  };
  std::vector<lora_module_source> lora_modules;
  // Other names requests may give as their model for the served model (adapter_dirs merged):
  // vLLM's further --served-model-name values; and where adapters are served as LoRA modules
  // requested by name (Kaito's vLLM runtime) but the engine only merges them (the GPU's), the one
  // merged adapter's name. `dir` is what /v1/models shows as the name's root.
  std::vector<lora_module_source> merged_names;
  std::string chat_template_path;  // "" = tokenizer_config.json's chat_template
  // Template text for a folder whose tokenizer_config.json has none (a preset's template, as
  // Kaito gives its runtime); "": such a model answers completions and refuses chats.
  std::string fallback_chat_template;
  int64_t max_batch = 8;      // concurrent answers decoded together (batch_generator.h)
  int64_t max_model_len = 0;  // > 0: the context served, at most the model's (vLLM max-model-len)
  // Unset: the CPU engine (fp32 weights on the host, adapters merged at load).
  decoder_factory make_decoder;
  // (0, 1]: the share of the GPU's memory the GPU engine may hold, weights and KV cache together
  // (vLLM's --gpu-memory-utilization); 0: the engine's default. The CPU engine ignores it.
  double gpu_memory_utilization = 0.0;
  // Prefix caching (vLLM's --enable-prefix-caching, on by default): the GPU engine keeps full
  // blocks of its paged KV cache for later prompts with the same prefix, the CPU engine the
  // caches of ended answers (idle_kv_cache.h). kv_blocks > 0: the GPU pool's size in blocks
  // instead of what memory holds (vLLM's --num-gpu-blocks-override; the CPU engine ignores it).
  bool prefix_caching = true;
  int64_t kv_blocks = 0;
};

// One answer token's log-probability and its most likely alternatives' (sampling.h logprobs_of:
// the model's, before the sampling settings). Texts are the tokenizer's decoding of the one id
// (special tokens kept; a byte of a multi-byte character stays a lone byte or U+FFFD, as the
// tokenizer's decoder gives it).
struct answer_logprob {
  std::string token;
  double logprob = 0.0;
  std::vector<std::pair<std::string, double>> top;  // most likely first
};

struct chat_options {
  int64_t max_tokens = 200;
  int64_t max_total_tokens = 0;   // > 0: prompt + answer at most this (HF's max_length)
  int64_t min_total_tokens = 0;   // > 0: no end before prompt + answer reach it (HF's min_length)
  sampling_params sampling;       // temperature 0: greedy
  std::vector<std::string> stop;  // stop strings
  // -1: none; >= 0: chat_answer::logprobs gets every answer token's (end tokens aside: they are
  // not part of the text) with this many alternatives. Streaming: set stream_logprobs, and each
  // on_piece call finds there the tokens drawn since the previous call's, for the sink to take
  // (and clear); what is left when chat returns came after the last piece.
  int64_t logprobs = -1;
  std::vector<answer_logprob>* stream_logprobs = nullptr;
  // -1: none; >= 0: chat_answer::prompt_logprobs gets the prompt's tokens with this many
  // alternatives each (OpenAI completions' echo with logprobs; vLLM's prompt_logprobs). max_tokens
  // may then be 0: the prompt's logprobs alone. With stream_logprobs they go there too, ahead of
  // the first answer token's entry (or alone at the end).
  int64_t prompt_logprobs = -1;
  // The answer is one JSON object (OpenAI's response_format {"type": "json_object"}): each draw
  // only among the tokens that keep the text a prefix of one (engine/token_filter.h), the end
  // only once it is whole. An answer cut by max_tokens may still be an unfinished object.
  bool json_object = false;
  // The answer is a value this JSON schema admits (response_format {"type": "json_schema"}): the
  // same, by engine/schema_matcher.h. Wins over json_object.
  std::shared_ptr<const engine::json_schema> schema;
  // With json_object or schema: no whitespace outside the JSON's strings.
  bool json_compact = false;
  // The chat template's `tools` (OpenAI's tool definitions; null: none), for chat().
  nlohmann::ordered_json tools;
  // Special tokens (by their text) the answer keeps although special tokens are left out of it:
  // a tool parser's markers (mistral's [TOOL_CALLS]); texts that are no special token are
  // ignored.
  std::vector<std::string> keep_special;
  // vLLM's: end tokens do not end the answer (ignore_eos: a benchmark's fixed lengths); these
  // ids end it too (stop_token_ids; their text is not part of the answer, as an end token's;
  // an id outside the vocabulary is invalid_argument naming stop_token_ids_field[i]); and no end
  // token or
  // stop id may come before min_tokens were drawn.
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::string stop_token_ids_field = "stop_token_ids";
  int64_t min_tokens = 0;
  // The LoRA module (chat_service_config::lora_modules' name) the answer runs with; "": the
  // model alone (with its merged adapters). Another name is not_found naming "model".
  std::string lora;
};

struct chat_answer {
  std::string text;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t cached_tokens = 0;  // of the prompt's, found in the GPU engine's prefix cache
  bool length = false;        // ended at max_tokens or the context (finish_reason "length")
  std::vector<answer_logprob> logprobs;  // with chat_options::logprobs >= 0
  // With chat_options::prompt_logprobs >= 0: one per prompt token (special ones included), its
  // text after the token before it; the first has logprob NaN and no alternatives (nothing comes
  // before it to predict it from).
  std::vector<answer_logprob> prompt_logprobs;
};

using piece_sink = std::function<bool(const std::string& piece)>;

class chat_service {
 public:
  static result<std::unique_ptr<chat_service>> load(const chat_service_config& cfg);

  result<chat_answer> chat(const nlohmann::ordered_json& messages, const chat_options& o,
                           const piece_sink& on_piece = {}) const;
  result<chat_answer> complete_text(const std::string& prompt, const chat_options& o,
                                    const piece_sink& on_piece = {}) const;

  // The LoRA modules served now (chat_service_config::lora_modules' and those load_lora added
  // since, less those unload_lora removed), in the order they came; the merged model's other
  // names (chat_service_config::merged_names); whether `name` is one of either (a request's
  // chat_options::lora may be).
  std::vector<chat_service_config::lora_module_source> lora_modules() const;
  const std::vector<chat_service_config::lora_module_source>& merged_names() const {
    return merged_names_;
  }
  bool serves_lora(const std::string& name) const;
  // Adds a LoRA module at run time (vLLM's POST /v1/load_lora_adapter): the PEFT adapter in
  // m.dir, requested as m.name from now on. Errors name name_field (empty; a name already served:
  // already_exists) or the adapter's file and field; unimplemented on an engine that merges
  // adapters (the GPU's). unload_lora (POST /v1/unload_lora_adapter) stops serving a name
  // (not_found naming name_field when it is not served); the answers in progress with it finish
  // with it. Thread-safe with answering.
  status load_lora(const chat_service_config::lora_module_source& m,
                   const std::string& name_field = "name") const;
  status unload_lora(const std::string& name, const std::string& name_field = "name") const;

  // The context served: the model's max_position_embeddings, or max_model_len when smaller.
  int64_t context_length() const { return context_; }

  // The ids a text (add_special_tokens: the tokenizer's BOS and the like) or a chat (rendered by
  // the chat template) becomes, and the text of ids (special tokens kept; an id outside the
  // vocabulary is invalid_argument naming tokens[i]): vLLM's /tokenize and /detokenize.
  result<std::vector<int32_t>> tokenize_text(const std::string& text,
                                             bool add_special_tokens) const;
  result<std::vector<int32_t>> tokenize_chat(
      const nlohmann::ordered_json& messages, bool add_generation_prompt, bool add_special_tokens,
      const nlohmann::ordered_json& tools = nlohmann::ordered_json()) const;
  result<std::string> detokenize(const std::vector<int32_t>& ids) const;
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  // The chat template's text (the model's, the --chat-template file's or the fallback's).
  const std::string& chat_template_source() const { return template_->source(); }
  // Counters and latencies of the answers so far, with the batch's running and waiting counts
  // (the inference server's /metrics).
  serving_snapshot stats() const;
  // The answers decoded together at most (cfg.max_batch: vLLM's max-num-seqs), and the requests
  // waiting for one of those slots now.
  int64_t max_batch() const { return max_batch_; }
  int64_t waiting() const;
  // Ends every answer in progress or waiting with `unavailable` ("the model server is shutting
  // down"), and every later one: a server stopping need not wait for long answers to finish.
  void shutdown() const { batcher_->shutdown(); }
  // ok while the engine works; else its first failure (batch_generator::failure: a CUDA error,
  // a device lost), which the server's /health reports and a pod's serve unit exits on.
  status health() const { return batcher_->failure(); }
  // Bytes of KV cache one position of one answer takes (every layer's keys and values: fp32 on
  // the CPU, bf16 on the GPU).
  int64_t kv_bytes_per_token() const { return decoder_->kv_bytes_per_token(); }
  // Keeps the KV cache of the answers decoded together within `bytes` (0: no limit): answers
  // that would pass it wait for room (Kaito's kv_cache_cpu_memory_utilization, sized by the
  // server once the model is loaded). Returns the budget in token positions. A decoder that
  // allocated its cache up front (the GPU's) takes no budget: the positions of its paged pool
  // (or its slots x max_len).
  int64_t limit_kv_cache(uint64_t bytes) const;

 private:
  chat_service() = default;
  result<chat_answer> run(const std::vector<int32_t>& prompt, const chat_options& o,
                          const piece_sink& on_piece) const;

  std::shared_ptr<model> model_;  // the CPU engine's weights (null with make_decoder)
  model_config config_;
  const sequence_decoder* decoder_ = nullptr;  // owned by batcher_
  std::unique_ptr<tokenizer> tok_;
  std::unique_ptr<chat_template> template_;
  hf_tokenizer_config tok_config_;
  std::vector<int32_t> end_tokens_;
  // loras_'s entry named `name`, or loras_.end(); loras_mu_ held.
  std::vector<served_lora_ptr>::iterator lora_named(const std::string& name) const;

  std::vector<chat_service_config::lora_module_source> merged_names_;
  mutable std::mutex loras_mu_;
  mutable std::vector<served_lora_ptr> loras_;  // under loras_mu_, in the order they came
  mutable uint64_t next_lora_id_ = 1;           // under loras_mu_
  int64_t context_ = 0;
  int64_t max_batch_ = 0;
  mutable serving_stats stats_;
  // The vocabulary's token texts for constrained answers (token_filter.h), made at the first.
  mutable std::once_flag vocab_once_;
  mutable std::shared_ptr<const vocab_bytes> vocab_;
  std::unique_ptr<batch_generator> batcher_;  // declared last: stops before the model goes
};

}  // namespace kaito::engine
