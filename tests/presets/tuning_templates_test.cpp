// The default tuning ConfigMaps equal kaito.md section 2.4 verbatim: the qlora data block as
// quoted, and lora identical except QuantizationConfig = `load_in_4bit: false`.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <yaml-cpp/yaml.h>

#include "presets/preset_catalog.h"

namespace kaito::presets {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The ```yaml block of kaito.md section 2.4, its data["training_config.yaml"].
std::string reference_training_config() {
  const std::string md = read(std::string(KAITO_SHARED_DIR) + "/reference/kaito.md");
  size_t sec = md.find("### 2.4 Tuning defaults");
  EXPECT_NE(sec, std::string::npos);
  size_t start = md.find("```yaml\n", sec);
  EXPECT_NE(start, std::string::npos);
  start += 8;
  size_t end = md.find("```", start);
  YAML::Node block = YAML::Load(md.substr(start, end - start));
  return block["data"]["training_config.yaml"].as<std::string>();
}

const preset_catalog& catalog() {
  static auto cat = load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets").value();
  return *cat;
}

TEST(TuningTemplates, QloraIsKaitosVerbatim) {
  const std::string expected = reference_training_config();
  ASSERT_GT(expected.size(), 500u);
  EXPECT_EQ(catalog().tuning_training_config("qlora"), expected);
  YAML::Node cm = YAML::Load(catalog().tuning_template("qlora"));
  EXPECT_EQ(cm["kind"].as<std::string>(), "ConfigMap");
  EXPECT_EQ(cm["metadata"]["name"].as<std::string>(), "qlora-params-template");
  YAML::Node tc = YAML::Load(expected)["training_config"];
  EXPECT_TRUE(tc["QuantizationConfig"]["load_in_4bit"].as<bool>());
  EXPECT_EQ(tc["QuantizationConfig"]["bnb_4bit_quant_type"].as<std::string>(), "nf4");
  EXPECT_EQ(tc["LoraConfig"]["r"].as<int>(), 8);
  EXPECT_EQ(tc["TrainingArguments"]["output_dir"].as<std::string>(), "/mnt/results");
}

TEST(TuningTemplates, LoraDiffersOnlyInQuantization) {
  std::string expected = reference_training_config();
  const std::string quant =
      "  QuantizationConfig:\n"
      "    load_in_4bit: true\n"
      "    bnb_4bit_quant_type: \"nf4\"\n"
      "    bnb_4bit_compute_dtype: \"bfloat16\"\n"
      "    bnb_4bit_use_double_quant: true\n";
  size_t at = expected.find(quant);
  ASSERT_NE(at, std::string::npos);
  expected.replace(at, quant.size(), "  QuantizationConfig:\n    load_in_4bit: false\n");
  EXPECT_EQ(catalog().tuning_training_config("lora"), expected);
  YAML::Node cm = YAML::Load(catalog().tuning_template("lora"));
  EXPECT_EQ(cm["metadata"]["name"].as<std::string>(), "lora-params-template");
  EXPECT_FALSE(
      YAML::Load(expected)["training_config"]["QuantizationConfig"]["load_in_4bit"].as<bool>());
}

// kaito.md section 1.3: the default `inference-params-template` holds
// `kv_cache_cpu_memory_utilization: 0.5` and `vllm: {cpu-offload-gb: 0}`.
TEST(InferenceTemplate, IsKaitosDefault) {
  YAML::Node cm = YAML::Load(catalog().inference_template());
  EXPECT_EQ(cm["kind"].as<std::string>(), "ConfigMap");
  EXPECT_EQ(cm["metadata"]["name"].as<std::string>(), "inference-params-template");
  EXPECT_EQ(cm["data"]["inference_config.yaml"].as<std::string>(), catalog().inference_config());
  YAML::Node config = YAML::Load(catalog().inference_config());
  EXPECT_EQ(config["kv_cache_cpu_memory_utilization"].as<double>(), 0.5);
  EXPECT_EQ(config["vllm"]["cpu-offload-gb"].as<int>(), 0);
  EXPECT_EQ(config.size(), 2u);
}

TEST(InferenceTemplate, MustBeAMappingInAConfigMapOfThatName) {
  const std::string good =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inference-params-template\ndata:\n"
      "  inference_config.yaml: |\n    vllm:\n      cpu-offload-gb: 0\n";
  EXPECT_TRUE(parse_config_map_template(good, "f.yaml", "inference-params-template",
                                        "inference_config.yaml")
                  .ok());
  auto wrong_name =
      parse_config_map_template(good, "f.yaml", "other-template", "inference_config.yaml");
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.error().to_string().find("metadata.name"), std::string::npos);
  std::string scalar = good;
  scalar.replace(scalar.find("    vllm:\n      cpu-offload-gb: 0\n"), 34, "    just text\n");
  auto not_a_map = parse_config_map_template(scalar, "f.yaml", "inference-params-template",
                                             "inference_config.yaml");
  ASSERT_FALSE(not_a_map.ok());
  EXPECT_NE(not_a_map.error().to_string().find("expected a mapping"), std::string::npos)
      << not_a_map.error().to_string();
}

TEST(TuningTemplates, UnknownMethodIsEmpty) {
  EXPECT_TRUE(catalog().tuning_template("full").empty());
  EXPECT_TRUE(catalog().tuning_training_config("").empty());
}

}  // namespace
}  // namespace kaito::presets
