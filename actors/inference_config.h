// inference_config: Kaito's inference ConfigMap (inference.config; key inference_config.yaml, the
// inference-params-template of presets/inference/) applied to an engine::chat_service_config, as
// Kaito's vLLM runtime turns its `vllm:` section into engine arguments.
//
//   kv_cache_cpu_memory_utilization: the share of the memory left once the model is loaded that
//                   the KV cache of the answers decoded together may take, (0, 1]
//                                               -> effect.kv_cache_memory_fraction
//   vllm:
//     max-num-seqs:   sequences decoded together  -> chat_service_config.max_batch (1..4096)
//     max-model-len:  the context served          -> chat_service_config.max_model_len (>= 1)
//     gpu-memory-utilization: the share of the GPU's memory the GPU engine may hold, (0, 1]
//                                      -> chat_service_config.gpu_memory_utilization
//     enable-prefix-caching: true/false -> chat_service_config.prefix_caching
//     num-gpu-blocks-override: the KV pool's blocks (>= 1) -> chat_service_config.kv_blocks
//   anything else (vllm.cpu-offload-gb, vllm.swap-space, ...) steers vLLM's own memory
//   planning: listed in `ignored`, not an error.
//
// A malformed value is invalid_argument naming the key (where "vllm.max-num-seqs": want an integer
// in [1, 4096], got "many"); a document that is not a mapping (where "") or a `vllm` that is not
// one is invalid_argument too.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/chat_service.h"

namespace kaito::actors {

// The KV cache's share of available memory when no config says otherwise (Kaito's template).
inline constexpr double kDefaultKvCacheMemoryFraction = 0.5;

struct inference_config_effect {
  double kv_cache_memory_fraction = kDefaultKvCacheMemoryFraction;
  std::vector<std::string> ignored;  // "vllm.cpu-offload-gb"
};

result<inference_config_effect> apply_inference_config(std::string_view yaml_text,
                                                       engine::chat_service_config* config);

// One value of vLLM's --lora-modules: NAME=PATH, or the JSON form {"name": NAME, "path": PATH}
// (its base_model_name, when given, must be `served`: the one model this server has). NAME is
// what requests put in "model"; it may not be `served`. A malformed value is invalid_argument
// naming `flag`.
result<engine::chat_service_config::lora_module_source> parse_lora_module(const std::string& value,
                                                                          const std::string& served,
                                                                          const std::string& flag);

}  // namespace kaito::actors
