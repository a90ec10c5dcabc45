// A tuning pod's work unit without the network: the --task=tune flags (work_args), Kaito's
// training_config.yaml applied to a tune job (training_config: the shipped templates, every key
// we honour, the ones we refuse by name), and run_tune_unit's early failures, which must name the
// flag or field before any download or training starts. tests/e2e/tune_workspace_test.sh runs
// the whole unit against a dataset host and a registry.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "actors/training_config.h"
#include "actors/tune_unit.h"
#include "actors/work_args.h"
#include "protocol/api/yaml.h"

namespace kaito::actors {
namespace {

TEST(TuneArgs, ParsesATuningPodsFlags) {
  auto w = parse_work_args({"--task=tune", "--preset=phi-3-mini-128k-instruct", "--method=lora",
                            "--input-url=https://h/a.parquet", "--input-url", "https://h/b.jsonl",
                            "--output-image=reg.io/a:1", "--config-file=/etc/tc.yaml"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->task, "tune");
  EXPECT_EQ(w->tune.preset, "phi-3-mini-128k-instruct");
  EXPECT_EQ(w->tune.method, "lora");
  EXPECT_EQ(w->tune.input_urls,
            std::vector<std::string>({"https://h/a.parquet", "https://h/b.jsonl"}));
  EXPECT_EQ(w->tune.output_image, "reg.io/a:1");
  EXPECT_EQ(w->tune.config_file, "/etc/tc.yaml");
  EXPECT_EQ(w->tune.docker_config, "/root/.docker/config.json");  // Kaito's mount
  EXPECT_EQ(w->tune.results_dir, "/mnt/results");
}

TEST(TuneArgs, BadFlagsAreNamed) {
  const std::vector<std::string> base = {"--task=tune", "--preset=p", "--input-url=https://h/a",
                                         "--output-image=r/a:1"};
  struct c {
    std::vector<std::string> extra;
    std::vector<std::string> drop;  // flags removed from base
    std::string where;
    status_code code = status_code::invalid_argument;
  };
  std::vector<c> cases = {
      {{}, {"--preset=p"}, "--preset"},
      {{}, {"--input-url=https://h/a"}, "--input-url"},
      {{}, {"--output-image=r/a:1"}, "--output-image"},
      {{"--method=dora"}, {}, "--method"},
      {{"--preset=../x"}, {}, "--preset"},
      {{"--results-dir=relative"}, {}, "--results-dir"},
      {{"--duration-seconds=5"}, {}, "--duration-seconds"},  // a self-test flag
      {{"--input-image=reg/data:1"}, {}, "tuning.input.image", status_code::unimplemented},
      {{"--output-volume=tuning.output.volumeSource"},
       {},
       "tuning.output.volumeSource",
       status_code::unimplemented},
  };
  for (const auto& k : cases) {
    std::vector<std::string> args;
    for (const auto& a : base)
      if (std::find(k.drop.begin(), k.drop.end(), a) == k.drop.end()) args.push_back(a);
    args.insert(args.end(), k.extra.begin(), k.extra.end());
    auto w = parse_work_args(args);
    ASSERT_FALSE(w.ok()) << k.where;
    EXPECT_EQ(w.error().where(), k.where) << w.error().to_string();
    EXPECT_EQ(w.error().code(), k.code) << w.error().to_string();
  }
  // And a tune flag is unknown to the self-test.
  EXPECT_EQ(parse_work_args({"--task=self-test", "--preset=p"}).error().where(), "--preset");
}

TEST(ServeArgs, ParsesAnInferencePodsFlags) {
  auto w = parse_work_args({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000"});
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->task, "serve");
  EXPECT_EQ(w->serve.preset, "phi-3-mini-128k-instruct");
  EXPECT_EQ(w->serve.port, 5000);
  EXPECT_EQ(parse_work_args({"--task=serve"}).error().where(), "--preset");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--port=0"}).error().where(), "--port");
  EXPECT_EQ(parse_work_args({"--task=serve", "--preset=p", "--input-url=x"}).error().where(),
            "--input-url");
  auto adapters = parse_work_args({"--task=serve", "--preset=p", "--adapter-image=a=r.io/a:1"});
  ASSERT_FALSE(adapters.ok());
  EXPECT_EQ(adapters.error().code(), status_code::unimplemented);
  EXPECT_EQ(adapters.error().where(), "inference.adapters");
}

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
  env.models_dir = "/nonexistent-models";
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
