// gpu_sequence_decoder: a Hugging Face model folder served on the GPU, as the sequence_decoder
// (engine/sequence_decoder.h) that engine/batch_generator.h batches answers on: what
// `kaito serve --device cuda` and an inference pod on a CUDA slot run (issue #6).
//
//   auto d = make_gpu_sequence_decoder({.model_dir = "phi-3", .max_batch = 8}, config);
//   chat_service_config{.make_decoder = ...} wraps it (cli/, actors/).
//
// The weights stream onto the GPU a layer at a time (gpu_model_from_hf.h): bf16 base linears by
// default (what Kaito's transformers runtime serves), or NF4 with double quantization
// (quantized_base: QLoRA's base, a quarter of the memory, the fused NF4 GEMV on decode). The
// adapters are applied at run time, unmerged, as the trainer ran them: engine/lora_combine.h
// folds them, each at its strength, into one LoRA on every linear (exactly their sum; a linear
// none targets gets zeros); with none the LoRA branch is skipped.
// The KV cache is allocated once, paged (engine/cuda/batch_decoder.h): a pool of blocks of 16
// positions (bf16 keys and values of every layer) filling gpu_memory_utilization of the device's
// memory (vLLM's meaning: weights, the step's buffers and the cache together, besides what is
// already in use), or, when that is more, max_batch answers of the whole context. Answers draw
// blocks as they grow, so one long answer may take the whole pool and many short ones share it;
// max_len is the served context (max_position_embeddings, or `context` when smaller), lowered to
// the pool when the pool is smaller, and resource_exhausted when the pool holds fewer than min_len
// positions. With prefix_caching (default), blocks a prompt filled stay in the pool, found again
// by their tokens (a chat's earlier turns, a shared system prompt), until it needs them for
// something else. Each decoder owns its cuda_context (stream, cuBLASLt, arena) and runs every call
// on the caller's thread (batch_generator's decode thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/model_config.h"
#include "engine/sequence_decoder.h"

namespace kaito::gpu {

struct gpu_serving_options {
  std::string model_dir;
  std::vector<std::string> adapter_dirs;  // PEFT adapter folders
  std::vector<float> adapter_strengths;   // empty, or one in [0, 1] per adapter
  int64_t max_batch = 8;                  // answers decoded together (cache slots)
  int64_t context = 0;                    // > 0: at most this many positions per answer
  int64_t prefill_chunk = 512;            // prompt tokens per prefill call
  bool quantized_base = false;            // NF4 + double quant instead of bf16
  double gpu_memory_utilization = 0.9;    // the share of the device's memory this may hold
  int64_t min_len = 256;                  // a pool of fewer positions is an error
  // > 0: the KV pool's blocks of 16 positions, instead of what memory holds (vLLM's
  // num_gpu_blocks_override; min_len still applies)
  int64_t kv_blocks = 0;
  // Full blocks kept for later prompts that start with the same tokens (vLLM's automatic prefix
  // caching: a chat's earlier turns, a shared system prompt are not computed again).
  bool prefix_caching = true;
};

// Bytes of KV cache per position of one answer: every layer's bf16 keys and values.
int64_t gpu_kv_bytes_per_token(const engine::model_config& c);

// The KV blocks of block_size positions that fit on a device of total_bytes with free_bytes free
// (the weights loaded) besides reserve_bytes: (utilization * total - (total - free) - reserve) /
// (block_size * bytes per token), rounded down; 0 when none fit.
int64_t gpu_serving_kv_blocks(const engine::model_config& c, int64_t block_size,
                              uint64_t free_bytes, uint64_t total_bytes, double utilization,
                              uint64_t reserve_bytes);

result<std::unique_ptr<engine::sequence_decoder>> make_gpu_sequence_decoder(
    const gpu_serving_options& o, const engine::model_config& c);

}  // namespace kaito::gpu
