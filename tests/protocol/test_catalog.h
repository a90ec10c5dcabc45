// test_catalog: a small kaito::api::catalog for protocol tests, with Kaito's own figures
// (shared/reference/kaito.md §2.2 GPU requirements at v0.4.6 and TotalSafeTensorFileSize at HEAD;
// §2.5 Azure SKU table: GPU count and total GPU memory per node).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "protocol/api/catalog.h"

namespace kaito::api::testing {

constexpr int64_t kGi = int64_t{1} << 30;

class test_catalog : public catalog {
 public:
  test_catalog() {
    preset_facts phi3_128k;
    phi3_128k.name = "phi-3-mini-128k-instruct";
    phi3_128k.family = "phi3";
    phi3_128k.supports_tuning = true;
    phi3_128k.inference_total_gpu_memory = 9 * kGi;
    phi3_128k.tuning_total_gpu_memory = 72 * kGi;
    phi3_128k.tuning_per_gpu_memory = 72 * kGi;
    phi3_128k.total_safetensor_file_size = 7645041787;  // 7.12Gi
    phi3_128k.model_token_limit = 131072;
    presets_.push_back(phi3_128k);

    preset_facts phi3_4k = phi3_128k;
    phi3_4k.name = "phi-3-mini-4k-instruct";
    phi3_4k.model_token_limit = 4096;
    presets_.push_back(phi3_4k);

    preset_facts phi4;
    phi4.name = "phi-4";
    phi4.family = "phi3";
    phi4.supports_tuning = true;
    phi4.inference_total_gpu_memory = 40 * kGi;
    phi4.total_safetensor_file_size = 29323823759;  // 27.31Gi
    phi4.model_token_limit = 16384;
    presets_.push_back(phi4);

    preset_facts phi2;
    phi2.name = "phi-2";
    phi2.family = "phi";
    phi2.deprecated = true;
    phi2.inference_total_gpu_memory = 12 * kGi;
    presets_.push_back(phi2);

    preset_facts falcon;
    falcon.name = "falcon-7b";
    falcon.family = "falcon";
    falcon.vllm_supports_lora = false;
    falcon.supports_transformers = true;
    falcon.inference_total_gpu_memory = 14 * kGi;
    presets_.push_back(falcon);

    preset_facts llama70;
    llama70.name = "llama-3.3-70b-instruct";
    llama70.family = "llama";
    llama70.download_at_runtime = true;
    llama70.supports_transformers = false;
    llama70.total_safetensor_file_size = 141111111598;  // 131.42Gi
    presets_.push_back(llama70);

    skus_ = {
        {"Standard_NC6s_v3", "azure", 1, 16 * kGi, "NVIDIA V100"},
        {"Standard_NV36ads_A10_v5", "azure", 1, 24 * kGi, "NVIDIA A10"},
        {"Standard_NC24ads_A100_v4", "azure", 1, 80 * kGi, "NVIDIA A100"},
        {"Standard_NC96ads_A100_v4", "azure", 4, 320 * kGi, "NVIDIA A100"},
        {"g5.xlarge", "aws", 1, 24 * kGi, "NVIDIA A10G"},
    };
  }

  const preset_facts* find_preset(std::string_view name) const override {
    for (const auto& p : presets_)
      if (p.name == name) return &p;
    return nullptr;
  }
  const sku_facts* find_sku(std::string_view instance_type) const override {
    for (const auto& s : skus_)
      if (s.name == instance_type) return &s;
    return nullptr;
  }
  std::vector<std::string> sku_names() const override {
    std::vector<std::string> out;
    for (const auto& s : skus_) out.push_back(s.name);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::vector<preset_facts> presets_;
  std::vector<sku_facts> skus_;
};

}  // namespace kaito::api::testing
