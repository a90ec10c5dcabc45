// preset: one model preset (a presets/models/<name>.yaml file), loaded at start, never code.
//
// A preset carries the model's architecture exactly as its HF config.json states it, the disk and
// GPU needs Kaito states for inference and tuning (kaito.md section 2.2), the chat template by
// name, the stop tokens and the default LoRA target modules. Memory and disk figures are bytes
// (written in the YAML as Kubernetes quantities: "9Gi"). `facts` is the part admission validation
// sees (kaito::api::preset_facts), derived at load.
//
// parse_preset() reads one YAML document strictly: unknown keys, missing required fields, wrong
// types and out-of-range values are errors whose where() is "<file>:<line>:<column>" and whose
// message names the field path ("architecture.hidden_size: ..."). It never throws.
//
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "protocol/api/catalog.h"

namespace kaito::presets {

// HF rope_scaling. type: "longrope" (Phi-3 128k/3.5/4-mini) or "llama3" (Llama 3.1); empty: none.
struct rope_scaling {
  std::string type;
  std::vector<double> short_factor;  // longrope: head_dim*partial_rotary_factor/2 values (or none)
  std::vector<double> long_factor;
  double factor = 0;  // llama3
  double low_freq_factor = 0;
  double high_freq_factor = 0;
  int64_t original_max_position_embeddings = 0;  // llama3
};

// HF config.json values. 0 (or empty) means "not set" for the optional ones.
struct architecture {
  std::string model_type;  // "phi3", "llama", "mistral", "qwen2", "falcon"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;
  double rope_theta = 0;
  rope_scaling rope;
  double partial_rotary_factor = 1.0;
  double rms_norm_eps = 0;         // RMSNorm models
  double layer_norm_epsilon = 0;   // Falcon (LayerNorm)
  int64_t sliding_window = 0;      // 0: none
  bool use_sliding_window = true;  // Qwen2 sets false while sliding_window holds a value
  bool attention_bias = false;
  bool parallel_attn = false;  // Falcon
  bool new_decoder_architecture = false;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
};

// Disk and GPU needs (Kaito's DiskStorageRequirement, GPUCountRequirement,
// TotalGPUMemoryRequirement, PerGPUMemoryRequirement), bytes.
struct resource_needs {
  int64_t disk = 0;
  int gpu_count = 0;
  int64_t total_gpu_memory = 0;
  int64_t per_gpu_memory = 0;
};

// Where the weights come from: an HF repo at a pinned revision, or a local folder. local_dir is
// relative to the shared dir (see shared_dir()); local_path is it resolved at load.
struct weights_source {
  std::string hf_repo;
  std::string revision;
  std::string local_dir;
  std::string local_path;
  std::string dtype;  // "bfloat16", "float32"
};

struct preset {
  std::string name;
  std::string family;  // known_families()
  std::string description;
  weights_source weights;
  int64_t parameters = 0;  // tensors stored in the checkpoint (HF's safetensors count)
  architecture arch;
  resource_needs inference;
  resource_needs tuning;
  bool tunable = false;
  bool cpu_ok = false;  // may run without GPUs (the tiny presets)
  bool deprecated = false;
  bool download_at_runtime = false;
  bool supports_transformers = true;
  bool vllm_supports_lora = true;
  int64_t model_token_limit = 0;
  std::string chat_template;  // known_chat_templates(); "none" for base models
  // vLLM's --tool-call-parser for tool_choice "auto" (protocol/api/tool_call_parser.h: hermes,
  // llama3_json, mistral, none); "" (absent): detected from the served chat template.
  std::string tool_call_parser;
  std::vector<std::string> stop_tokens;
  std::vector<int64_t> stop_token_ids;
  std::vector<std::string> lora_target_modules;
  std::string source_file;  // the YAML file it came from
  api::preset_facts facts;  // derived at load

  // bytes of the weights as stored: parameters x bytes per dtype element.
  int64_t weights_bytes() const;
};

// "phi3", "phi4", "llama", "mistral", "qwen2", "falcon".
const std::vector<std::string>& known_families();
// Chat template names presets may reference (presets/chat_templates/<name>.jinja), plus "none".
const std::vector<std::string>& known_chat_templates();

// Parses one preset document. `file` names it in errors. Does not resolve weights.local_path.
result<preset> parse_preset(std::string_view yaml_text, const std::string& file);

// The shared dir tiny presets' local_dir is relative to: $KAITO_SHARED_DIR, else the compile-time
// KAITO_SHARED_DIR.
std::string shared_dir();

}  // namespace kaito::presets
