// A tuning pod's work unit without the network: Kaito's training_config.yaml applied to a tune
// job (training_config: the shipped templates, every key we honour, the ones we refuse by name),
// and run_tune_unit's early failures, which must name the flag or field before any download or
// training starts (the flags themselves: work_args_test.cpp). tests/e2e/tune_workspace_test.sh runs
// the whole unit against a dataset host and a registry.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "actors/training_config.h"
#include "actors/tune_unit.h"
#include "protocol/api/yaml.h"

namespace kaito::actors {
namespace {

std::string template_text(const std::string& method) {
  std::ifstream in(std::string(KAITO_SOURCE_DIR) + "/presets/tuning/" + method +
                   "-params-template.yaml");
  std::stringstream s;
  s << in.rdbuf();
  auto cm = api::decode_yaml(s.str());
  EXPECT_TRUE(cm.ok());
  return (*cm)["data"]["training_config.yaml"].get<std::string>();
}

TEST(TrainingConfig, KaitosTemplatesApplyAsTheDefaults) {
  for (const char* method : {"qlora", "lora"}) {
    engine::tune_job j, defaults;
    j.qlora = defaults.qlora = std::string(method) == "qlora";
    auto eff = apply_training_config(template_text(method), &j);
    ASSERT_TRUE(eff.ok()) << method << ": " << eff.error().to_string();
    EXPECT_EQ(eff->output_dir, "/mnt/results");
    EXPECT_EQ(j.lora.r, defaults.lora.r);
    EXPECT_EQ(j.lora.alpha, defaults.lora.alpha);
    EXPECT_EQ(j.micro_batch_size, defaults.micro_batch_size);
    EXPECT_EQ(j.lr, defaults.lr);
    EXPECT_EQ(j.epochs, defaults.epochs);
    // What only steers Hugging Face loading is listed, not silently dropped.
    EXPECT_NE(std::find(eff->ignored.begin(), eff->ignored.end(), "ModelConfig.torch_dtype"),
              eff->ignored.end());
  }
}

TEST(TrainingConfig, HonoursPeftAndTrainerKeys) {
  engine::tune_job j;
  auto eff = apply_training_config(R"(training_config:
  LoraConfig:
    r: 16
    lora_alpha: 32
    lora_dropout: 0.05
    target_modules: ["qkv_proj", "o_proj"]
  TrainingArguments:
    num_train_epochs: 2
    max_steps: -1
    per_device_train_batch_size: 4
    gradient_accumulation_steps: 2
    learning_rate: "2e-4"
    lr_scheduler_type: cosine
    warmup_steps: 10
    max_grad_norm: 0.3
    weight_decay: 0.01
    seed: 7
    gradient_checkpointing: false
    max_seq_length: 512
    output_dir: /mnt/out
    logging_steps: 5
)",
                                   &j);
  ASSERT_TRUE(eff.ok()) << eff.error().to_string();
  EXPECT_EQ(j.lora.r, 16);
  EXPECT_EQ(j.lora.alpha, 32);
  EXPECT_DOUBLE_EQ(j.lora.dropout, 0.05);
  EXPECT_EQ(j.lora.target_modules, std::vector<std::string>({"qkv_proj", "o_proj"}));
  EXPECT_EQ(j.epochs, 2);
  EXPECT_EQ(j.max_steps, 0);
  EXPECT_EQ(j.micro_batch_size, 4);
  EXPECT_EQ(j.grad_accum, 2);
  EXPECT_DOUBLE_EQ(j.lr, 2e-4);
  EXPECT_EQ(j.schedule, lr_schedule_kind::cosine);
  EXPECT_EQ(j.warmup_steps, 10);
  EXPECT_DOUBLE_EQ(j.max_grad_norm, 0.3);
  EXPECT_DOUBLE_EQ(j.weight_decay, 0.01);
  EXPECT_EQ(j.seed, 7u);
  EXPECT_FALSE(j.activation_checkpointing);
  EXPECT_EQ(j.max_length, 512);
  EXPECT_EQ(eff->output_dir, "/mnt/out");
  EXPECT_EQ(eff->ignored, std::vector<std::string>({"TrainingArguments.logging_steps"}));
}

TEST(TrainingConfig, RefusesWhatItCannotHonourByName) {
  struct c {
    const char* yaml;
    const char* where;
    status_code code;
  };
  const c cases[] = {
      {"training_config:\n  TrainingArguments:\n    learning_rate: -1\n",
       "training_config.TrainingArguments.learning_rate", status_code::invalid_argument},
      {"training_config:\n  TrainingArguments:\n    num_train_epochs: 1.5\n",
       "training_config.TrainingArguments.num_train_epochs", status_code::invalid_argument},
      {"training_config:\n  TrainingArguments:\n    output_dir: /tmp/x\n",
       "training_config.TrainingArguments.output_dir", status_code::invalid_argument},
      {"training_config:\n  TrainingArguments:\n    lr_scheduler_type: polynomial\n",
       "training_config.TrainingArguments.lr_scheduler_type", status_code::unimplemented},
      {"training_config:\n  QuantizationConfig:\n    load_in_8bit: true\n",
       "training_config.QuantizationConfig.load_in_8bit", status_code::unimplemented},
      {"training_config:\n  QuantizationConfig:\n    bnb_4bit_quant_type: fp4\n",
       "training_config.QuantizationConfig.bnb_4bit_quant_type", status_code::unimplemented},
      {"training_config:\n  QuantizationConfig:\n    load_in_4bit: false\n",
       "training_config.QuantizationConfig.load_in_4bit", status_code::invalid_argument},
      {"training_config:\n  LoraConfig:\n    target_modules: []\n",
       "training_config.LoraConfig.target_modules", status_code::invalid_argument},
      {"training_config:\n  LoraConfig:\n    bias: all\n", "training_config.LoraConfig.bias",
       status_code::unimplemented},
      {"training_config:\n  DatasetConfig:\n    context_column: instruction\n",
       "training_config.DatasetConfig.context_column", status_code::unimplemented},
      {"training_config:\n  Extra:\n    a: 1\n", "training_config.Extra",
       status_code::invalid_argument},
      {"other: 1\n", "training_config", status_code::invalid_argument},
  };
  for (const auto& k : cases) {
    engine::tune_job j;  // qlora
    auto eff = apply_training_config(k.yaml, &j);
    ASSERT_FALSE(eff.ok()) << k.yaml;
    EXPECT_EQ(eff.error().where(), k.where) << eff.error().to_string();
    EXPECT_EQ(eff.error().code(), k.code) << eff.error().to_string();
  }
  engine::tune_job j;
  EXPECT_FALSE(apply_training_config("training_config: [unclosed", &j).ok());
}

TEST(TuneUnit, FailsEarlyNamingTheModelStoreOrTheImage) {
  tune_args a;
  a.preset = "phi-3-mini-128k-instruct";
  a.input_urls = {"https://h.example/a.parquet"};
  a.output_image = "reg.example/a:1";
  std::atomic<bool> cancel{false};
  tune_unit_env env;
  auto r = run_tune_unit(a, env, cancel, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "KAITO_MODELS_DIR");
  EXPECT_NE(r.error().message().find("--models"), std::string::npos);
  env.models.models_dir = "/nonexistent-models";
  r = run_tune_unit(a, env, cancel, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/nonexistent-models/phi-3-mini-128k-instruct"),
            std::string::npos);
  // A model is there: a bad image reference fails before any download.
  a.model_dir = std::string(KAITO_SHARED_DIR) + "/fixtures/tiny-phi3/base";
  a.output_image = "Reg.Example/UPPER:1";
  r = run_tune_unit(a, env, cancel, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "--output-image");
}

}  // namespace
}  // namespace kaito::actors
