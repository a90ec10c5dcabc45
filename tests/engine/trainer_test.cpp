// The LoRA trainer on a small synthetic chat dataset over the tiny-llama-gqa fixture model (NF4
// base, QLoRA): the assistant-token loss must fall below 0.05, accumulation must not change the
// gradient, and resuming from a checkpoint must give bit-identical adapter bytes.
#include "engine/trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/generate.h"
#include "engine/model_weights.h"
#include "kernels/rng.h"
#include "tests/engine/trainer_fixture.h"

namespace kaito::engine {
namespace {

using testing::base_model;
using testing::chat_dataset;
using testing::config;
using testing::fresh_adapter;

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST(trainer, qlora_drives_assistant_loss_below_005) {
  auto m = base_model(/*nf4=*/true);
  auto t = trainer::create(m, fresh_adapter(*m, 0.0), chat_dataset(6), config(60, 2, 2));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  const double before = t->evaluate().value();
  step_info last;
  for (int i = 0; i < 60; ++i) {
    auto s = t->step();
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    last = s.value();
  }
  const double after = t->evaluate().value();
  std::printf("assistant-token loss: %.4f -> %.5f after %lld steps (last step loss %.5f)\n", before,
              after, static_cast<long long>(last.step), last.loss);
  EXPECT_GT(before, 3.0);
  EXPECT_LT(after, 0.05);
  // Greedy generation (KV cache, adapter at run time, NF4 base) reproduces every trained answer.
  for (const auto& e : chat_dataset(6)) {
    const auto first =
        std::find_if(e.labels.begin(), e.labels.end(), [](int32_t l) { return l != -100; });
    const size_t n_prompt = static_cast<size_t>(first - e.labels.begin());
    std::vector<int32_t> prompt(e.ids.begin(), e.ids.begin() + n_prompt);
    generate_options opt;
    opt.max_new_tokens = 8;
    opt.stop_tokens = {4};  // <|end|>
    auto got = generate_greedy(*m, &t->adapter(), prompt, opt);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got.value(), std::vector<int32_t>(e.ids.begin() + n_prompt, e.ids.end()));
  }
}

TEST(trainer, gradient_accumulation_matches_one_big_batch) {
  // 4 examples as 1 micro-batch of 4 or 4 micro-batches of 1: the same step (HF num_items
  // normalisation), up to fp32 summation order.
  auto m = base_model(false);
  auto data = chat_dataset(4);
  auto a = trainer::create(m, fresh_adapter(*m, 0.0), data, config(1, 4, 1)).value();
  auto b = trainer::create(m, fresh_adapter(*m, 0.0), data, config(1, 1, 4)).value();
  auto sa = a.step().value();
  auto sb = b.step().value();
  EXPECT_EQ(sa.tokens, sb.tokens);
  EXPECT_NEAR(sa.loss, sb.loss, 1e-6 * sa.loss);
  EXPECT_NEAR(sa.grad_norm, sb.grad_norm, 1e-5 * sa.grad_norm);
  for (size_t i = 0; i < a.adapter().modules.size(); ++i) {
    const auto& x = a.adapter().modules[i];
    const auto& y = b.adapter().modules[i];
    for (size_t k = 0; k < x.B.size(); ++k) ASSERT_NEAR(x.B[k], y.B[k], 1e-6) << x.path;
  }
}

TEST(trainer, resume_is_bit_exact) {
  auto m = base_model(true);
  const std::string dir = ::testing::TempDir() + "/kaito_resume_" + std::to_string(getpid());
  auto data = chat_dataset(5);  // 5 examples, micro-batches of 2: epochs straddle micro-batches
  auto straight = trainer::create(m, fresh_adapter(*m, 0.1), data, config(12, 2, 2)).value();
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(straight.step().ok());
  ASSERT_TRUE(straight.save_checkpoint(dir + "/straight").ok());

  auto first = trainer::create(m, fresh_adapter(*m, 0.1), data, config(12, 2, 2)).value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(first.step().ok());
  ASSERT_TRUE(first.save_checkpoint(dir + "/mid").ok());
  // A new process would start from a fresh adapter and the checkpoint.
  lora_adapter other = fresh_adapter(*m, 0.1);
  other.modules[0].A[0] += 1.0f;
  auto resumed = trainer::create(m, std::move(other), data, config(12, 2, 2)).value();
  ASSERT_TRUE(resumed.load_checkpoint(dir + "/mid").ok());
  EXPECT_EQ(resumed.steps_done(), 5);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(resumed.step().ok());
  ASSERT_TRUE(resumed.save_checkpoint(dir + "/resumed").ok());

  for (const char* f : {"adapter_model.safetensors", "trainer_state.safetensors"}) {
    const std::string x = read_bytes(dir + "/straight/" + f);
    const std::string y = read_bytes(dir + "/resumed/" + f);
    ASSERT_FALSE(x.empty());
    EXPECT_TRUE(x == y) << f << " differs after resume";
  }
  // A checkpoint from another seed is refused.
  train_config other_seed = config(12, 2, 2);
  other_seed.seed = 8;
  auto wrong = trainer::create(m, fresh_adapter(*m, 0.1), data, other_seed).value();
  EXPECT_EQ(wrong.load_checkpoint(dir + "/mid").code(), status_code::failed_precondition);
  std::filesystem::remove_all(dir);
}

TEST(trainer, rejects_bad_data) {
  auto m = base_model(false);
  train_example bad;
  bad.ids = {1, 2, 3};
  bad.labels = {1, 2};
  auto t = trainer::create(m, fresh_adapter(*m, 0.0), {bad}, config(1, 1, 1));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().where(), "data[0]");
  bad.labels = {1, 2, 3};
  bad.ids[1] = 64;
  EXPECT_EQ(trainer::create(m, fresh_adapter(*m, 0.0), {bad}, config(1, 1, 1)).error().where(),
            "data[0].ids");
}

}  // namespace
}  // namespace kaito::engine
