// catalog: what admission validation needs to know about presets and GPU SKUs, as an interface.
//
// protocol/api sits below presets/ (presets are loaded from YAML there), so validation sees the
// preset and SKU tables only through this interface; presets/ implements it (preset_catalog) and
// tests may implement it with a table of their own.
//
// Thread-safety: implementations are immutable after load; every method is safe to call from any
// thread. Returned pointers stay valid as long as the catalog lives.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kaito::api {

// One model preset, as validation sees it. Memory figures are bytes.
struct preset_facts {
  std::string name;         // "phi-3-mini-128k-instruct"
  std::string family;       // "phi3", "llama", "mistral", "qwen2", "falcon"
  bool deprecated = false;  // "Model %s is deprecated and no longer supported"
  bool supports_inference = true;
  bool supports_tuning = false;       // "Unsupported tuning preset name %s" when false
  bool download_at_runtime = false;   // gated: needs presetOptions.modelAccessSecret (HF_TOKEN)
  bool supports_transformers = true;  // runtime validation for kaito.sh/runtime: transformers
  bool vllm_supports_lora = true;     // "vLLM does not support LoRA adapters for this model"
  int inference_gpu_count = 1;        // GPUCountRequirement
  int64_t inference_total_gpu_memory = 0;  // TotalGPUMemoryRequirement
  int64_t inference_per_gpu_memory = 0;    // PerGPUMemoryRequirement (0: none)
  int64_t tuning_total_gpu_memory = 0;
  int64_t tuning_per_gpu_memory = 0;
  int64_t total_safetensor_file_size = 0;  // TotalSafeTensorFileSize
  int64_t model_token_limit = 0;           // max-model-len cap (context length, tokens)
};

// One GPU instance type (SKU). total_gpu_memory is the sum over the node's GPUs, in bytes.
struct sku_facts {
  std::string name;   // "Standard_NC6s_v3"
  std::string cloud;  // "azure", "aws", "arc"
  int gpu_count = 0;
  int64_t total_gpu_memory = 0;
  std::string gpu_model;  // "NVIDIA V100"
};

class catalog {
 public:
  virtual ~catalog() = default;
  // nullptr when unknown.
  virtual const preset_facts* find_preset(std::string_view name) const = 0;
  // nullptr when unknown.
  virtual const sku_facts* find_sku(std::string_view instance_type) const = 0;
  // All known SKU names, sorted, for "Supported SKUs: ..." messages.
  virtual std::vector<std::string> sku_names() const = 0;
};

}  // namespace kaito::api
