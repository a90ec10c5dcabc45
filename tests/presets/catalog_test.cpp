// The shipped presets: every file loads, and their facts match HF config.json values, Kaito's GPU
// tables (kaito.md section 2.2/2.5) and the shared fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "presets/preset_catalog.h"

namespace kaito::presets {
namespace {

constexpr int64_t kGi = int64_t{1} << 30;

const preset_catalog& catalog() {
  static auto cat = [] {
    auto r = load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets");
    EXPECT_TRUE(r.ok()) << r.take_status().to_string();
    return r.ok() ? r.value() : nullptr;
  }();
  return *cat;
}

const preset& get(const char* name) {
  const preset* p = catalog().find(name);
  EXPECT_NE(p, nullptr) << name;
  static preset empty;
  return p ? *p : empty;
}

TEST(PresetCatalog, EveryRequiredPresetLoads) {
  for (const char* name :
       {"phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3-medium-4k-instruct",
        "phi-3-medium-128k-instruct", "phi-3.5-mini-instruct", "phi-4", "phi-4-mini-instruct",
        "mistral-7b", "mistral-7b-instruct", "qwen2.5-coder-7b-instruct",
        "qwen2.5-coder-32b-instruct", "llama-3.1-8b-instruct", "falcon-7b", "falcon-7b-instruct",
        "falcon-40b", "tiny-phi3", "tiny-phi3-longrope", "tiny-llama-gqa"}) {
    ASSERT_NE(catalog().find(name), nullptr) << name;
  }
  EXPECT_EQ(catalog().all().size(), 18u);
  EXPECT_EQ(catalog().find("phi-2"), nullptr);
  EXPECT_EQ(catalog().find(""), nullptr);
}

TEST(PresetCatalog, Phi3Mini128kMatchesHfConfig) {
  const preset& p = get("phi-3-mini-128k-instruct");
  EXPECT_EQ(p.family, "phi3");
  EXPECT_EQ(p.weights.hf_repo, "microsoft/Phi-3-mini-128k-instruct");
  EXPECT_EQ(p.weights.revision, "072cb7562cb8c4adf682a8e186aaafa49469eb5d");
  EXPECT_EQ(p.arch.model_type, "phi3");
  EXPECT_EQ(p.arch.hidden_size, 3072);
  EXPECT_EQ(p.arch.num_hidden_layers, 32);
  EXPECT_EQ(p.arch.intermediate_size, 8192);
  EXPECT_EQ(p.arch.num_attention_heads, 32);
  EXPECT_EQ(p.arch.num_key_value_heads, 32);
  EXPECT_EQ(p.arch.head_dim, 96);
  EXPECT_EQ(p.arch.vocab_size, 32064);
  EXPECT_EQ(p.arch.max_position_embeddings, 131072);
  EXPECT_EQ(p.arch.original_max_position_embeddings, 4096);
  EXPECT_EQ(p.arch.rope_theta, 10000.0);
  EXPECT_EQ(p.arch.rope.type, "longrope");
  ASSERT_EQ(p.arch.rope.short_factor.size(), 48u);
  ASSERT_EQ(p.arch.rope.long_factor.size(), 48u);
  EXPECT_EQ(p.arch.rope.short_factor.front(), 1.1);
  EXPECT_EQ(p.arch.rope.long_factor.back(), 64.76000213623047);
  EXPECT_EQ(p.arch.rms_norm_eps, 1e-5);
  EXPECT_EQ(p.arch.sliding_window, 262144);
  EXPECT_FALSE(p.arch.tie_word_embeddings);
  EXPECT_EQ(p.arch.bos_token_id, 1);
  EXPECT_EQ(p.arch.eos_token_ids, std::vector<int64_t>({32000}));
  EXPECT_EQ(p.parameters, 3821079552);
  EXPECT_EQ(p.chat_template, "phi-3");
  EXPECT_EQ(p.stop_token_ids, std::vector<int64_t>({32000, 32001, 32007}));
  EXPECT_EQ(p.stop_tokens, std::vector<std::string>({"<|endoftext|>", "<|assistant|>", "<|end|>"}));
  EXPECT_EQ(p.lora_target_modules,
            std::vector<std::string>({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}));
  EXPECT_TRUE(p.tunable);
  EXPECT_EQ(p.inference.total_gpu_memory, 9 * kGi);
  EXPECT_EQ(p.tuning.total_gpu_memory, 72 * kGi);
  EXPECT_EQ(p.model_token_limit, 131072);
  // Kaito's TotalSafeTensorFileSize for phi-3-mini is 7.12Gi: 3.82e9 bf16 parameters.
  EXPECT_NEAR(static_cast<double>(p.facts.total_safetensor_file_size) / kGi, 7.12, 0.005);
}

TEST(PresetCatalog, Phi3Variants) {
  const preset& mini4k = get("phi-3-mini-4k-instruct");
  EXPECT_EQ(mini4k.arch.sliding_window, 2047);
  EXPECT_TRUE(mini4k.arch.rope.type.empty());
  EXPECT_EQ(mini4k.model_token_limit, 4096);
  const preset& medium = get("phi-3-medium-4k-instruct");
  EXPECT_EQ(medium.arch.hidden_size, 5120);
  EXPECT_EQ(medium.arch.intermediate_size, 17920);
  EXPECT_EQ(medium.arch.num_hidden_layers, 40);
  EXPECT_EQ(medium.arch.num_key_value_heads, 10);
  EXPECT_EQ(medium.arch.head_dim, 128);
  EXPECT_EQ(medium.parameters, 13960238080);
  EXPECT_EQ(medium.inference.total_gpu_memory, 28 * kGi);
  EXPECT_EQ(get("phi-3-medium-128k-instruct").arch.rope.type, "longrope");
  const preset& p35 = get("phi-3.5-mini-instruct");
  EXPECT_EQ(p35.arch.rope.long_factor.front(), 1.0800000429153442);
  EXPECT_EQ(p35.arch.rope.short_factor.back(), 2.8399994373321533);
  EXPECT_EQ(p35.inference.total_gpu_memory, 8 * kGi);
  // Every Phi-3/Phi-4 preset uses the fused HF module names.
  for (const preset& p : catalog().all())
    if (p.family == "phi3" || p.family == "phi4")
      EXPECT_EQ(p.lora_target_modules,
                std::vector<std::string>({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}))
          << p.name;
}

TEST(PresetCatalog, Phi4AndOthers) {
  const preset& phi4 = get("phi-4");
  EXPECT_EQ(phi4.family, "phi4");
  EXPECT_EQ(phi4.arch.vocab_size, 100352);
  EXPECT_EQ(phi4.arch.rope_theta, 250000.0);
  // Kaito's TotalSafeTensorFileSize for phi-4 is 27.31Gi.
  EXPECT_NEAR(static_cast<double>(phi4.facts.total_safetensor_file_size) / kGi, 27.31, 0.005);
  EXPECT_EQ(phi4.inference.total_gpu_memory, 40 * kGi);
  const preset& mini4 = get("phi-4-mini-instruct");
  EXPECT_EQ(mini4.arch.num_attention_heads, 24);
  EXPECT_EQ(mini4.arch.num_key_value_heads, 8);
  EXPECT_EQ(mini4.arch.partial_rotary_factor, 0.75);
  EXPECT_TRUE(mini4.arch.tie_word_embeddings);
  // longrope over the rotary part only: 128 * 0.75 / 2 = 48 factors.
  ASSERT_EQ(mini4.arch.rope.long_factor.size(), 48u);
  EXPECT_EQ(mini4.arch.rope.long_factor.back(), 47.77);
  EXPECT_EQ(mini4.arch.rope.short_factor, std::vector<double>(48, 1.0));
  EXPECT_EQ(mini4.arch.sliding_window, 262144);

  const preset& llama = get("llama-3.1-8b-instruct");
  EXPECT_EQ(llama.arch.rope.type, "llama3");
  EXPECT_EQ(llama.arch.rope.factor, 8.0);
  EXPECT_EQ(llama.arch.rope.low_freq_factor, 1.0);
  EXPECT_EQ(llama.arch.rope.high_freq_factor, 4.0);
  EXPECT_EQ(llama.arch.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(llama.arch.rope_theta, 500000.0);
  EXPECT_EQ(llama.arch.vocab_size, 128256);
  EXPECT_EQ(llama.parameters, 8030261248);
  EXPECT_TRUE(llama.download_at_runtime);
  EXPECT_TRUE(llama.facts.download_at_runtime);
  EXPECT_FALSE(llama.tunable);
  EXPECT_EQ(llama.chat_template, "llama-3");
  EXPECT_EQ(llama.lora_target_modules,
            std::vector<std::string>(
                {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));

  const preset& mistral = get("mistral-7b");
  EXPECT_TRUE(mistral.tunable);
  EXPECT_EQ(mistral.chat_template, "none");
  EXPECT_EQ(mistral.parameters, 7248023552);
  EXPECT_EQ(mistral.inference.total_gpu_memory, 14 * kGi);
  EXPECT_EQ(get("mistral-7b-instruct").inference.total_gpu_memory, 16 * kGi);
  EXPECT_FALSE(get("mistral-7b-instruct").tunable);

  const preset& qwen = get("qwen2.5-coder-32b-instruct");
  EXPECT_EQ(qwen.chat_template, "chatml");
  EXPECT_EQ(qwen.arch.rms_norm_eps, 1e-6);
  EXPECT_TRUE(qwen.arch.attention_bias);
  EXPECT_EQ(qwen.tuning.total_gpu_memory, 140 * kGi);
  EXPECT_EQ(qwen.tuning.per_gpu_memory, 70 * kGi);

  const preset& falcon = get("falcon-40b");
  EXPECT_EQ(falcon.inference.gpu_count, 2);
  EXPECT_EQ(falcon.inference.total_gpu_memory, 90 * kGi);
  EXPECT_EQ(falcon.inference.disk, 280 * kGi);
  EXPECT_EQ(falcon.arch.layer_norm_epsilon, 1e-5);
  EXPECT_EQ(falcon.arch.rms_norm_eps, 0.0);
  EXPECT_FALSE(falcon.tunable);
  EXPECT_TRUE(falcon.vllm_supports_lora);  // Kaito disallows vLLM LoRA for falcon-7b only
  EXPECT_FALSE(get("falcon-7b").vllm_supports_lora);
  EXPECT_FALSE(get("falcon-7b-instruct").facts.vllm_supports_lora);
  EXPECT_EQ(
      get("falcon-7b").lora_target_modules,
      std::vector<std::string>({"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}));
  EXPECT_EQ(get("falcon-7b").arch.num_key_value_heads, 1);
}

TEST(PresetCatalog, TuningPresetsAreKaitosHeadList) {
  std::vector<std::string> tunable;
  for (const preset& p : catalog().all())
    if (p.tunable && !p.cpu_ok) tunable.push_back(p.name);
  EXPECT_EQ(tunable, std::vector<std::string>(
                         {"mistral-7b", "phi-3-medium-128k-instruct", "phi-3-medium-4k-instruct",
                          "phi-3-mini-128k-instruct", "phi-3-mini-4k-instruct",
                          "phi-3.5-mini-instruct", "phi-4", "phi-4-mini-instruct",
                          "qwen2.5-coder-32b-instruct", "qwen2.5-coder-7b-instruct"}));
}

// Sums the element counts in a safetensors header (JSON after an 8-byte little-endian length).
int64_t safetensors_parameters(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint8_t len_bytes[8] = {};
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  auto j = nlohmann::json::parse(header);
  int64_t total = 0;
  for (const auto& [k, v] : j.items()) {
    if (k == "__metadata__") continue;
    int64_t n = 1;
    for (int64_t d : v["shape"]) n *= d;
    total += n;
  }
  return total;
}

TEST(PresetCatalog, TinyPresetsMatchTheirFixtures) {
  for (const char* name : {"tiny-phi3", "tiny-phi3-longrope", "tiny-llama-gqa"}) {
    const preset& p = get(name);
    EXPECT_TRUE(p.cpu_ok);
    EXPECT_TRUE(p.tunable);
    EXPECT_EQ(p.inference.gpu_count, 0);
    EXPECT_EQ(p.weights.local_dir, std::string("fixtures/") + name + "/base");
    const std::string dir = p.weights.local_path;
    ASSERT_FALSE(dir.empty());
    std::ifstream cfg_in(dir + "/config.json");
    ASSERT_TRUE(cfg_in.good()) << dir;
    auto cfg = nlohmann::json::parse(cfg_in);
    EXPECT_EQ(p.arch.model_type, cfg["model_type"]);
    EXPECT_EQ(p.arch.hidden_size, cfg["hidden_size"]);
    EXPECT_EQ(p.arch.intermediate_size, cfg["intermediate_size"]);
    EXPECT_EQ(p.arch.num_hidden_layers, cfg["num_hidden_layers"]);
    EXPECT_EQ(p.arch.num_attention_heads, cfg["num_attention_heads"]);
    EXPECT_EQ(p.arch.num_key_value_heads, cfg["num_key_value_heads"]);
    EXPECT_EQ(p.arch.vocab_size, cfg["vocab_size"]);
    EXPECT_EQ(p.arch.max_position_embeddings, cfg["max_position_embeddings"]);
    EXPECT_EQ(p.arch.rope_theta, cfg["rope_parameters"]["rope_theta"].get<double>());
    if (cfg["rope_parameters"]["rope_type"] == "longrope") {
      EXPECT_EQ(p.arch.rope.short_factor,
                cfg["rope_parameters"]["short_factor"].get<std::vector<double>>());
      EXPECT_EQ(p.arch.rope.long_factor,
                cfg["rope_parameters"]["long_factor"].get<std::vector<double>>());
      EXPECT_EQ(p.arch.original_max_position_embeddings,
                cfg["rope_parameters"]["original_max_position_embeddings"]);
    } else {
      EXPECT_TRUE(p.arch.rope.type.empty());
    }
    EXPECT_EQ(p.arch.eos_token_ids, std::vector<int64_t>({cfg["eos_token_id"].get<int64_t>()}));
    EXPECT_EQ(p.parameters, safetensors_parameters(dir + "/model.safetensors")) << name;
  }
}

TEST(PresetCatalog, ApiCatalogView) {
  const api::catalog& cat = catalog();
  const api::preset_facts* f = cat.find_preset("phi-3-mini-128k-instruct");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->supports_tuning);
  EXPECT_FALSE(f->deprecated);
  EXPECT_EQ(f->inference_gpu_count, 1);
  EXPECT_EQ(f->inference_total_gpu_memory, 9 * kGi);
  EXPECT_EQ(f->tuning_total_gpu_memory, 72 * kGi);
  EXPECT_EQ(f->model_token_limit, 131072);
  EXPECT_FALSE(cat.find_preset("llama-3.1-8b-instruct")->supports_tuning);
  EXPECT_EQ(cat.find_preset("no-such-model"), nullptr);

  const api::sku_facts* nc6 = cat.find_sku("Standard_NC6s_v3");
  ASSERT_NE(nc6, nullptr);
  EXPECT_EQ(nc6->cloud, "azure");
  EXPECT_EQ(nc6->gpu_count, 1);
  EXPECT_EQ(nc6->total_gpu_memory, 16 * kGi);
  EXPECT_EQ(nc6->gpu_model, "NVIDIA V100");
  EXPECT_EQ(cat.find_sku("standard_nc6s_v3"), nullptr);
  EXPECT_EQ(cat.find_sku("Standard_XYZ"), nullptr);

  auto names = cat.sku_names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::count(names.begin(), names.end(), "p4d.24xlarge"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "Standard_NC4_A2"), 1);
}

TEST(PresetCatalog, SkuTables) {
  const sku* a100 = catalog().find_sku_entry("Standard_NC24ads_A100_v4");
  ASSERT_NE(a100, nullptr);
  EXPECT_EQ(a100->facts.total_gpu_memory, 80 * kGi);
  EXPECT_EQ(a100->compute_capability, "8.0");
  EXPECT_TRUE(a100->nvme);
  EXPECT_EQ(a100->source, "head");
  const sku* h200 = catalog().find_sku_entry("Standard_ND96isr_H200_v5");
  ASSERT_NE(h200, nullptr);
  EXPECT_EQ(h200->facts.gpu_count, 8);
  EXPECT_EQ(h200->facts.total_gpu_memory, 1128 * kGi);
  EXPECT_EQ(h200->per_gpu_memory(), 141 * kGi);
  EXPECT_EQ(h200->compute_capability, "9.0");
  const sku* v100 = catalog().find_sku_entry("Standard_NC24s_v3");
  ASSERT_NE(v100, nullptr);
  EXPECT_EQ(v100->facts.gpu_count, 4);
  EXPECT_EQ(v100->facts.total_gpu_memory, 64 * kGi);
  EXPECT_EQ(v100->compute_capability, "7.0");
  EXPECT_EQ(v100->source, "v0.4.6");
  EXPECT_EQ(catalog().find_sku_entry("Standard_NC4as_T4_v3")->compute_capability, "7.5");
  EXPECT_EQ(catalog().find_sku_entry("Standard_NG32ads_V620_v1")->compute_capability, "");
  const sku* g5 = catalog().find_sku_entry("g5.12xlarge");
  ASSERT_NE(g5, nullptr);
  EXPECT_EQ(g5->facts.cloud, "aws");
  EXPECT_EQ(g5->facts.gpu_count, 4);
  EXPECT_EQ(g5->facts.total_gpu_memory, 96 * kGi);
  EXPECT_EQ(g5->facts.gpu_model, "NVIDIA A10G");
  EXPECT_EQ(catalog().find_sku_entry("p5.48xlarge")->facts.total_gpu_memory, 640 * kGi);
}

TEST(PresetCatalog, ChatTemplateFiles) {
  const std::string dir = std::string(KAITO_SOURCE_DIR) + "/presets";
  EXPECT_EQ(catalog().chat_template_file(get("phi-3-mini-4k-instruct")),
            dir + "/chat_templates/phi-3.jinja");
  EXPECT_EQ(catalog().chat_template_file(get("qwen2.5-coder-7b-instruct")),
            dir + "/chat_templates/chatml.jinja");
  EXPECT_EQ(catalog().chat_template_file(get("mistral-7b")), "");
  // load_catalog refuses a preset whose template has no file, so every named one exists.
  for (const preset& p : catalog().all()) {
    const std::string f = catalog().chat_template_file(p);
    if (!f.empty()) EXPECT_TRUE(std::ifstream(f).good()) << p.name << ": " << f;
  }
}

TEST(PresetCatalog, DefaultPresetsDir) {
  ::setenv("KAITO_PRESETS_DIR", "/some/where", 1);
  EXPECT_EQ(default_presets_dir(), "/some/where");
  ::unsetenv("KAITO_PRESETS_DIR");
  EXPECT_EQ(default_presets_dir(), std::string(KAITO_SOURCE_DIR) + "/presets");
}

}  // namespace
}  // namespace kaito::presets
