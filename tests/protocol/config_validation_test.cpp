// Tuning and inference ConfigMap rules, directly and through validate_create with a lookup.
#include <gtest/gtest.h>

#include "tests/protocol/example_files.h"
#include "tests/protocol/validation_fixture.h"

namespace kaito::api {
namespace {

// Kaito's qlora-params-template training_config.yaml (kaito.md §2.4), verbatim.
const char* kQloraTemplate = R"(training_config:
  ModelConfig:
    torch_dtype: "bfloat16"
    local_files_only: true
    device_map: "auto"
  QuantizationConfig:
    load_in_4bit: true
    bnb_4bit_quant_type: "nf4"
    bnb_4bit_compute_dtype: "bfloat16"
    bnb_4bit_use_double_quant: true
  LoraConfig:
    r: 8
    lora_alpha: 8
    lora_dropout: 0.0
  TrainingArguments:
    output_dir: "/mnt/results"
    ddp_find_unused_parameters: false
    save_strategy: "no"
    per_device_train_batch_size: 1
  DataCollator:
    mlm: true
  DatasetConfig:
    shuffle_dataset: true
    train_test_split: 1
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

std::vector<std::string> messages(const std::vector<field_error>& errs) {
  std::vector<std::string> out;
  for (const auto& e : errs) {
    EXPECT_EQ(e.field, "tuning.config");
    out.push_back(e.message);
  }
  return out;
}

TEST(TuningConfigRule, DefaultTemplatePasses) {
  EXPECT_TRUE(
      validate_tuning_config(kQloraTemplate, "qlora", "qlora-params-template", "kaito-workspace")
          .empty());
}

TEST(TuningConfigRule, SectionsAllowlist) {
  auto errs = validate_tuning_config(replace(kQloraTemplate, "  DataCollator:",
                                             "  TokenizerParams:\n    padding: true\n"
                                             "  DataCollator:"),
                                     "qlora", "cm", "ns");
  EXPECT_EQ(messages(errs), std::vector<std::string>{"Unrecognized section: TokenizerParams"});
  EXPECT_EQ(messages(validate_tuning_config("foo: 1\n", "lora", "cm", "ns")),
            std::vector<std::string>{"Expected 'training_config' key to contain a map"});
}

TEST(TuningConfigRule, LoadInBitsAreBoolOrNull) {
  EXPECT_EQ(messages(validate_tuning_config(
                replace(kQloraTemplate, "load_in_4bit: true", "load_in_4bit: \"true\""), "qlora",
                "cm", "ns")),
            std::vector<std::string>{"QuantizationConfig.load_in_4bit: value must be either nil "
                                     "or a boolean, got type string"});
  EXPECT_EQ(messages(validate_tuning_config(replace(kQloraTemplate, "load_in_4bit: true",
                                                    "load_in_4bit: ~\n    load_in_8bit: true"),
                                            "qlora", "cm", "ns")),
            std::vector<std::string>{});
  EXPECT_EQ(messages(validate_tuning_config(replace(kQloraTemplate, "load_in_4bit: true",
                                                    "load_in_4bit: true\n    load_in_8bit: true"),
                                            "qlora", "cm", "ns")),
            std::vector<std::string>{
                "Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in ConfigMap 'cm'"});
}

TEST(TuningConfigRule, MethodMatchesQuantization) {
  EXPECT_EQ(messages(validate_tuning_config(kQloraTemplate, "lora", "cm", "ns")),
            std::vector<std::string>{
                "For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap 'cm' must not "
                "be true"});
  std::string lora = replace(kQloraTemplate, "load_in_4bit: true", "load_in_4bit: false");
  EXPECT_TRUE(validate_tuning_config(lora, "lora", "cm", "ns").empty());
  const std::string need =
      "Required value: For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be true "
      "in ConfigMap 'cm'";
  EXPECT_EQ(messages(validate_tuning_config(lora, "qlora", "cm", "ns")),
            std::vector<std::string>{need});
  std::string no_quant = "training_config:\n  LoraConfig:\n    r: 8\n";
  EXPECT_EQ(messages(validate_tuning_config(no_quant, "qlora", "cm", "ns")),
            std::vector<std::string>{need});
  EXPECT_TRUE(validate_tuning_config(no_quant, "lora", "cm", "ns").empty());
}

TEST(TuningConfigRule, OutputDirUnderMnt) {
  auto with_dir = [](const std::string& d) {
    return validate_tuning_config(
        replace(kQloraTemplate, "output_dir: \"/mnt/results\"", "output_dir: " + d), "qlora", "cm",
        "ns");
  };
  EXPECT_TRUE(with_dir("\"results\"").empty());
  EXPECT_TRUE(with_dir("\"/mnt/results\"").empty());  // joined under /mnt, as Kaito does
  EXPECT_EQ(
      messages(with_dir("\"../etc\"")),
      std::vector<std::string>{"Invalid output_dir specified: '../etc', must be a directory"});
  EXPECT_EQ(messages(with_dir("\"\"")),
            std::vector<std::string>{"Invalid output_dir specified: '', must be a directory"});
  EXPECT_EQ(messages(with_dir("5")),
            std::vector<std::string>{"output_dir is not a string in ConfigMap 'cm' in namespace "
                                     "'ns'"});
}

TEST(TuningConfigRule, UnparsableYaml) {
  auto errs = validate_tuning_config("training_config: [\n", "qlora", "cm", "ns");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message.rfind("Failed to parse 'training_config.yaml' in ConfigMap 'cm' in "
                                  "namespace 'ns': line ",
                                  0),
            0u)
      << errs[0].message;
}

TEST(TuningConfigRule, ThroughTheWorkspaceWithALookup) {
  auto opt = testing::default_options();
  opt.config_maps = testing::lookup_over(
      {{"qlora-params-template", "kaito-workspace", {{"training_config.yaml", kQloraTemplate}}},
       {"mine", "default", {{"other.yaml", "x: 1"}}}});
  testing::check_create_rows(
      testing::tuning_base(),
      {
          {"default template found", [](json&) {}, "", ""},
          {"lora default missing", [](json& j) { j["tuning"]["method"] = "lora"; }, "tuning.config",
           "ConfigMap 'lora-params-template' specified in 'config' not found in namespace "
           "'kaito-workspace'"},
          {"named missing", [](json& j) { j["tuning"]["config"] = "nope"; }, "tuning.config",
           "ConfigMap 'nope' specified in 'config' not found in namespace 'default'"},
          {"no key", [](json& j) { j["tuning"]["config"] = "mine"; }, "tuning.config",
           "Required value: training_config.yaml in ConfigMap"},
      },
      opt);
  // Without a lookup (offline) nothing is looked up.
  testing::check_create_rows(
      testing::tuning_base(),
      {
          {"offline", [](json& j) { j["tuning"]["config"] = "nope"; }, "", ""},
      });
}

TEST(InferenceConfigRule, MaxModelLen) {
  auto opt = testing::default_options();
  auto cms = std::vector<config_map>{
      {"inference-params-template",
       "kaito-workspace",
       {{"inference_config.yaml", "vllm:\n  cpu-offload-gb: 0\n"}}},
      {"long", "default", {{"inference_config.yaml", "vllm:\n  max-model-len: 200000\n"}}},
      {"ok", "default", {{"inference_config.yaml", "vllm:\n  max-model-len: \"131072\"\n"}}},
      {"nan", "default", {{"inference_config.yaml", "vllm:\n  max-model-len: lots\n"}}},
      {"nokey", "default", {{"x", "y"}}}};
  opt.config_maps = testing::lookup_over(cms);
  testing::check_create_rows(
      testing::inference_base(),
      {
          {"default", [](json&) {}, "", ""},
          {"at limit", [](json& j) { j["inference"]["config"] = "ok"; }, "", ""},
          {"too long", [](json& j) { j["inference"]["config"] = "long"; }, "inference.config",
           "max-model-len 200000 exceeds model's maximum supported context window 131072 "
           "(ModelTokenLimit)"},
          {"not int", [](json& j) { j["inference"]["config"] = "nan"; }, "inference.config",
           "max-model-len must be an integer: strconv.Atoi: parsing \"lots\": invalid syntax"},
          {"no key", [](json& j) { j["inference"]["config"] = "nokey"; }, "inference.config",
           "Required value: inference_config.yaml in ConfigMap"},
          {"transformers skips",
           [](json& j) {
             j["inference"]["config"] = "long";
             j["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers";
           },
           "", ""},
      },
      opt);
}

}  // namespace
}  // namespace kaito::api
