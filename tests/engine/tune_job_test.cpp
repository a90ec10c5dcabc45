// engine/tune_job.h: `kaito tune`'s whole job on the CPU engine, on the tiny Phi-3 chat model
// folder of tests/engine/tiny_chat_model.h.
#include "engine/tune_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::engine {
namespace {

namespace fs = std::filesystem;

const std::string k_chat = kaito::testing::tiny_chat_dir();

tune_job small_job(const std::string& name) {
  return kaito::testing::tiny_chat_job(name, 24);
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(TuneJob, DataSupervisesTheAssistantTurnsOnly) {
  const tune_job j = small_job("data");
  auto m = load_model_config(j.model_dir);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto d = load_tune_data(j, *m);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  ASSERT_EQ(d->examples.size(), 6u);
  EXPECT_EQ(d->truncated, 0);
  for (const train_example& e : d->examples) {
    ASSERT_EQ(e.ids.size(), e.labels.size());
    EXPECT_EQ(e.labels.front(), -100);  // "<|user|>" or "<|system|>" opens every conversation
    EXPECT_EQ(e.ids.back(), 2);         // eos </s>, supervised: the model learns to stop
    EXPECT_EQ(e.labels.back(), 2);
  }
  EXPECT_GT(d->supervised_tokens, 12);
  fs::remove_all(j.model_dir);
}

// Kaito's datasets come as Parquet (a messages column, as Hugging Face datasets writes it):
// tiny-chat/chat.parquet is chat.jsonl written by pyarrow, and gives the same examples.
TEST(TuneJob, AParquetDatasetGivesTheSameExamplesAsItsJsonl) {
  tune_job j = small_job("parquet");
  auto m = load_model_config(j.model_dir);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto jsonl = load_tune_data(j, *m);
  ASSERT_TRUE(jsonl.ok()) << jsonl.error().to_string();
  j.data_paths = {k_chat + "/chat.parquet"};
  auto parquet = load_tune_data(j, *m);
  ASSERT_TRUE(parquet.ok()) << parquet.error().to_string();
  ASSERT_EQ(parquet->examples.size(), jsonl->examples.size());
  for (size_t i = 0; i < jsonl->examples.size(); ++i) {
    EXPECT_EQ(parquet->examples[i].ids, jsonl->examples[i].ids) << i;
    EXPECT_EQ(parquet->examples[i].labels, jsonl->examples[i].labels) << i;
  }
  EXPECT_EQ(parquet->supervised_tokens, jsonl->supervised_tokens);
  // a damaged file names the byte and the file
  std::ifstream in(j.data_paths[0], std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = j.model_dir + "/bad.parquet";
  write(bad, bytes.substr(0, bytes.size() - 9) + "\xff\xff\xff\x7f" + "PAR1");
  j.data_paths = {bad};
  auto r = load_tune_data(j, *m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where().rfind(bad + ": byte ", 0), 0u) << r.error().to_string();
  fs::remove_all(j.model_dir);
}

// TRL's other dataset formats (tests/data/sft: chat.jsonl's six conversations rewritten by
// make_sft.py), each as JSONL and as Parquet giving the same examples.
TEST(TuneJob, PromptCompletionAndTextDatasetsSuperviseWhatTrlDoes) {
  tune_job j = small_job("sft");
  auto m = load_model_config(j.model_dir);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto messages = load_tune_data(j, *m);
  ASSERT_TRUE(messages.ok()) << messages.error().to_string();
  const std::string sft = std::string(KAITO_SOURCE_DIR) + "/tests/data/sft/";
  std::map<std::string, tune_data> got;
  for (const char* name : {"prompt_completion", "conversational", "text"}) {
    SCOPED_TRACE(name);
    j.data_paths = {sft + name + ".jsonl"};
    auto jsonl = load_tune_data(j, *m);
    ASSERT_TRUE(jsonl.ok()) << jsonl.error().to_string();
    j.data_paths = {sft + name + ".parquet"};
    auto parquet = load_tune_data(j, *m);
    ASSERT_TRUE(parquet.ok()) << parquet.error().to_string();
    ASSERT_EQ(jsonl->examples.size(), 6u);
    ASSERT_EQ(parquet->examples.size(), 6u);
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(parquet->examples[i].ids, jsonl->examples[i].ids) << i;
      EXPECT_EQ(parquet->examples[i].labels, jsonl->examples[i].labels) << i;
      EXPECT_EQ(jsonl->examples[i].ids.back(), 2) << i;  // eos </s>, learned
      EXPECT_EQ(jsonl->examples[i].labels.back(), 2) << i;
    }
    got[name] = std::move(jsonl).value();
  }
  // text: every token supervised; prompt-completion: the prompt is not
  for (const train_example& e : got["text"].examples) EXPECT_EQ(e.labels, e.ids);
  for (size_t i = 0; i < 6; ++i) {
    const train_example& pc = got["prompt_completion"].examples[i];
    EXPECT_EQ(pc.ids, got["text"].examples[i].ids) << i;  // text = prompt + completion
    EXPECT_EQ(pc.labels.front(), -100);
    EXPECT_LT(std::count(pc.labels.begin(), pc.labels.end(), -100), int64_t(pc.ids.size()) - 1);
  }
  // conversational: the conversations' tokens, the last assistant turn learned (the third
  // conversation's earlier "4" turn sits in the prompt and is not)
  for (size_t i = 0; i < 6; ++i) {
    const train_example& c = got["conversational"].examples[i];
    const train_example& msg = messages->examples[i];
    EXPECT_EQ(c.ids, msg.ids) << i;
    if (i != 2) EXPECT_EQ(c.labels, msg.labels) << i;
  }
  EXPECT_LT(got["conversational"].supervised_tokens, messages->supervised_tokens);
  // mixed formats in one file, and a missing completion, name the line
  const std::string bad = j.model_dir + "/mixed.jsonl";
  write(bad, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"text\": \"c\"}\n");
  j.data_paths = {bad};
  auto r = load_tune_data(j, *m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), bad + ": line 2") << r.error().to_string();
  write(bad, "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"c\"}\n");
  r = load_tune_data(j, *m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), bad + ": line 3: completion") << r.error().to_string();
  // another text column (TrainingArguments.dataset_text_field)
  write(bad, "{\"body\": \"Say hello.\"}\n");
  j.columns.text = "body";
  r = load_tune_data(j, *m);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->supervised_tokens, int64_t(r->examples[0].ids.size()));
  fs::remove_all(j.model_dir);
}

TEST(TuneJob, QloraLearnsTheDataAndWritesAPeftAdapter) {
  const tune_job j = small_job("qlora");
  std::vector<double> losses;
  auto sum = run_tune_job(j, [&](const step_info& s, int64_t total) {
    EXPECT_EQ(total, 24);
    EXPECT_EQ(s.step, int64_t(losses.size()) + 1);
    losses.push_back(s.loss);
    return true;
  });
  ASSERT_TRUE(sum.ok()) << sum.error().to_string();
  EXPECT_EQ(sum->steps, 24);
  EXPECT_EQ(sum->examples, 6);
  ASSERT_EQ(losses.size(), 24u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  // the fourth pass over the six conversations is easier than the first (5.5 -> 3.7 here)
  double first = 0, fourth = 0;
  for (int i = 0; i < 6; ++i) first += losses[size_t(i)], fourth += losses[size_t(i + 18)];
  EXPECT_LT(fourth, 0.75 * first) << "first pass " << first / 6 << ", fourth " << fourth / 6;
  // the adapter is PEFT's: every decoder linear of both layers, r 8, alpha 8, B trained
  auto cfg = load_model_config(j.model_dir);
  ASSERT_TRUE(cfg.ok());
  auto a = load_peft_adapter(j.out_dir, *cfg);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->modules.size(), 8u);  // 2 layers x qkv, o, gate_up, down
  EXPECT_EQ(a->config.r, 8);
  EXPECT_EQ(a->config.alpha, 8.0);
  double b_norm = 0.0;
  for (const lora_module& m : a->modules)
    for (float b : m.B) b_norm += double(b) * b;
  EXPECT_GT(b_norm, 0.0);
  fs::remove_all(j.model_dir);
}

TEST(TuneJob, AStoppedRunResumesBitForBit) {
  // one run of 24 steps straight ...
  tune_job whole = small_job("whole");
  auto a = run_tune_job(whole);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  // ... and the same run stopped after step 10 (a checkpoint, no adapter), then resumed
  tune_job j = small_job("resumed");
  j.checkpoint_dir = j.model_dir + "/ckpt";
  j.save_every = 4;
  auto b = run_tune_job(j, [](const step_info& s, int64_t) { return s.step < 10; });
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_TRUE(b->stopped);
  EXPECT_FALSE(fs::exists(j.out_dir));
  EXPECT_TRUE(fs::exists(j.checkpoint_dir + "/trainer_state.safetensors"));
  EXPECT_FALSE(fs::exists(j.checkpoint_dir + ".partial"));
  EXPECT_FALSE(fs::exists(j.checkpoint_dir + ".previous"));
  j.resume = true;
  std::vector<int64_t> steps;
  auto c = run_tune_job(j, [&](const step_info& s, int64_t) {
    steps.push_back(s.step);
    return true;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->resumed_at, 10);
  ASSERT_EQ(steps.size(), 14u);
  EXPECT_EQ(steps.front(), 11);
  EXPECT_EQ(c->last_loss, a->last_loss);
  const std::string want = kaito::testing::adapter_bytes(whole.out_dir);
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(kaito::testing::adapter_bytes(j.out_dir), want);
  // another seed is a different run: refused, naming it
  j.seed = 7;
  auto d = run_tune_job(j);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().to_string().find("seed"), std::string::npos) << d.error().to_string();
  EXPECT_NE(d.error().to_string().find("--resume"), std::string::npos);
  fs::remove_all(whole.model_dir);
  fs::remove_all(j.model_dir);
}

TEST(TuneJob, ResumeNeedsACheckpointDir) {
  tune_job j;
  j.model_dir = "m", j.data_paths = {"d"}, j.out_dir = "o";
  j.resume = true;
  EXPECT_EQ(validate_tune_job(j).where(), "--resume");
  j.checkpoint_dir = "c";
  j.save_every = 0;
  EXPECT_EQ(validate_tune_job(j).where(), "--save-every");
  j.save_every = 5;
  EXPECT_TRUE(validate_tune_job(j).ok());
  EXPECT_TRUE(tune_checkpoint_due(j, 5, 12));
  EXPECT_FALSE(tune_checkpoint_due(j, 6, 12));
  EXPECT_TRUE(tune_checkpoint_due(j, 12, 12));  // the end
  j.checkpoint_dir.clear();
  EXPECT_FALSE(tune_checkpoint_due(j, 5, 12));
}

TEST(TuneJob, StepsFollowEpochsBatchAndAccumulation) {
  tune_job j;
  j.epochs = 3;
  j.micro_batch_size = 2;
  j.grad_accum = 2;
  EXPECT_EQ(tune_total_steps(j, 6), 3 * 2);  // ceil(6 / 4) a epoch
  EXPECT_EQ(tune_total_steps(j, 1), 3);
  j.max_steps = 5;
  EXPECT_EQ(tune_total_steps(j, 6), 5);
  const train_config c = tune_train_config(j, 5);
  EXPECT_EQ(c.schedule.total_steps, 5);
  EXPECT_EQ(c.schedule.kind, lr_schedule_kind::linear);
  EXPECT_EQ(c.seed, 42u);
}

TEST(TuneJob, BadInputNamesTheFileAndPlace) {
  tune_job j = small_job("bad");
  j.micro_batch_size = 0;
  auto st = validate_tune_job(j);
  EXPECT_EQ(st.where(), "--micro-batch-size");
  j.micro_batch_size = 1;
  // a malformed third line
  const std::string data = j.model_dir + "/bad.jsonl";
  write(data,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
        "\"content\": \"yo\"}]}\n\n{\"messages\": [{\"role\": \"user\", \"content\": 3}]}\n");
  j.data_paths = {data};
  auto r = run_tune_job(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().where().find(data + ": line 3"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(fs::exists(j.out_dir));
  // an empty file
  write(data, "\n");
  r = run_tune_job(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), data);
  EXPECT_NE(r.error().message().find("no examples"), std::string::npos);
  // no tokenizer: the error names the file
  j.data_paths = {k_chat + "/chat.jsonl"};
  fs::remove(j.model_dir + "/tokenizer.json");
  r = run_tune_job(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find("tokenizer.json"), std::string::npos)
      << r.error().to_string();
  fs::remove_all(j.model_dir);
}

TEST(TuneJob, ATemplateFileStandsInForAMissingChatTemplate) {
  tune_job j = small_job("template");
  write(j.model_dir + "/tokenizer_config.json",
        "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
  auto cfg = load_model_config(j.model_dir);
  ASSERT_TRUE(cfg.ok());
  auto r = load_tune_data(j, *cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find("chat_template"), std::string::npos);
  j.chat_template_path = std::string(KAITO_SOURCE_DIR) + "/presets/chat_templates/phi-3.jinja";
  r = load_tune_data(j, *cfg);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->examples.size(), 6u);
  EXPECT_EQ(r->examples[0].ids.back(), 2);  // eos_token still from tokenizer_config.json
  fs::remove_all(j.model_dir);
}

TEST(TuneJob, AVocabularyTheModelCannotEmbedIsRefused) {
  tune_job j = small_job("vocab");
  auto cfg = load_model_config(j.model_dir);
  ASSERT_TRUE(cfg.ok());
  model_config small = *cfg;
  small.vocab_size = 100;  // the tokenizer's ids reach 350
  auto r = load_tune_data(j, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("vocab_size"), std::string::npos) << r.error().to_string();
  EXPECT_EQ(r.error().where(), j.data_paths[0] + ": line 1");  // its first conversation
  fs::remove_all(j.model_dir);
}

}  // namespace
}  // namespace kaito::engine
