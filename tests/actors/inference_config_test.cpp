// Kaito's inference_config.yaml (actors/inference_config.h): vLLM's max-num-seqs, max-model-len,
// gpu-memory-utilization, enable-prefix-caching and num-gpu-blocks-override applied to the served
// model, the rest listed as not applied, bad values named; vLLM's --lora-modules values.
#include "actors/inference_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace kaito::actors {
namespace {

TEST(inference_config, kaitos_default_template_changes_nothing_and_says_what_it_skips) {
  std::ifstream in(std::string(KAITO_SOURCE_DIR) +
                   "/presets/inference/inference-params-template.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  // The ConfigMap's data["inference_config.yaml"], as the pod sees it.
  const std::string text = "kv_cache_cpu_memory_utilization: 0.5\nvllm:\n  cpu-offload-gb: 0\n";
  ASSERT_NE(ss.str().find("cpu-offload-gb: 0"), std::string::npos);
  engine::chat_service_config c;
  auto eff = apply_inference_config(text, &c);
  ASSERT_TRUE(eff.ok()) << eff.error().to_string();
  EXPECT_EQ(c.max_batch, 8);
  EXPECT_EQ(c.max_model_len, 0);
  EXPECT_EQ(eff->kv_cache_memory_fraction, 0.5);
  EXPECT_EQ(eff->ignored, (std::vector<std::string>{"vllm.cpu-offload-gb"}));
  EXPECT_TRUE(apply_inference_config("", &c).ok());
}

TEST(inference_config, max_num_seqs_and_max_model_len_apply) {
  engine::chat_service_config c;
  auto eff = apply_inference_config(
      "kv_cache_cpu_memory_utilization: 0.25\nvllm:\n  max-num-seqs: 3\n  max-model-len: 512\n"
      "  gpu-memory-utilization: 0.84\n  enable-prefix-caching: false\n"
      "  num-gpu-blocks-override: 1000\n",
      &c);
  ASSERT_TRUE(eff.ok());
  EXPECT_FALSE(c.prefix_caching);
  EXPECT_EQ(c.kv_blocks, 1000);
  EXPECT_EQ(c.max_batch, 3);
  EXPECT_EQ(c.max_model_len, 512);
  EXPECT_EQ(c.gpu_memory_utilization, 0.84);  // the GPU engine's share (vLLM's meaning)
  EXPECT_EQ(eff->kv_cache_memory_fraction, 0.25);
  EXPECT_TRUE(eff->ignored.empty());
}

TEST(inference_config, bad_values_name_their_key) {
  engine::chat_service_config c;
  auto bad = apply_inference_config("vllm:\n  max-num-seqs: many\n", &c);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "vllm.max-num-seqs");
  EXPECT_NE(bad.error().message().find("\"many\""), std::string::npos);
  EXPECT_EQ(apply_inference_config("vllm:\n  max-num-seqs: 0\n", &c).error().where(),
            "vllm.max-num-seqs");
  EXPECT_EQ(apply_inference_config("vllm:\n  max-model-len: 1.5\n", &c).error().where(),
            "vllm.max-model-len");
  EXPECT_EQ(apply_inference_config("vllm: [1, 2]\n", &c).error().where(), "vllm");
  EXPECT_EQ(apply_inference_config("vllm:\n  enable-prefix-caching: maybe\n", &c).error().where(),
            "vllm.enable-prefix-caching");
  EXPECT_EQ(apply_inference_config("vllm:\n  num-gpu-blocks-override: 0\n", &c).error().where(),
            "vllm.num-gpu-blocks-override");
  for (const char* bad_share : {"0", "1.5", "\"half\""}) {
    EXPECT_EQ(
        apply_inference_config(std::string("vllm:\n  gpu-memory-utilization: ") + bad_share, &c)
            .error()
            .where(),
        "vllm.gpu-memory-utilization");
    EXPECT_EQ(
        apply_inference_config(std::string("kv_cache_cpu_memory_utilization: ") + bad_share, &c)
            .error()
            .where(),
        "kv_cache_cpu_memory_utilization");
  }
  EXPECT_FALSE(apply_inference_config("- a\n- b\n", &c).ok());
  EXPECT_FALSE(apply_inference_config("vllm: {max-num-seqs: 2\n", &c).ok());  // malformed YAML
  EXPECT_EQ(c.max_batch, 8);  // a refused value is never applied
  EXPECT_EQ(c.gpu_memory_utilization, 0.0);
}

TEST(inference_config, lora_modules_are_name_equals_path_or_vllms_json) {
  auto m = parse_lora_module("sql=/adapters/sql", "phi-3", "--lora-modules");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->name, "sql");
  EXPECT_EQ(m->dir, "/adapters/sql");
  m = parse_lora_module(R"({"name": "a=b", "path": "/x=y", "base_model_name": "phi-3"})", "phi-3",
                        "--lora-modules");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->name, "a=b");
  EXPECT_EQ(m->dir, "/x=y");
  for (const char* bad :
       {"sql", "=/x", "sql=", "phi-3=/x", "{\"name\": \"a\"}", "{\"name\": 1, \"path\": \"/x\"}",
        "{not json", R"({"name": "a", "path": "/x", "base_model_name": "llama"})"}) {
    auto r = parse_lora_module(bad, "phi-3", "--lora-modules");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().where(), "--lora-modules") << bad;
  }
}

}  // namespace
}  // namespace kaito::actors
