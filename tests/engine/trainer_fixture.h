// Test helper: the small random Llama, synthetic chat dataset, fresh LoRA adapter and train
// config shared by the trainer tests (tests/engine/trainer_test.cpp) and the data-parallel test
// over the ring all-reduce (tests/actors/ring_all_reduce_test.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/trainer.h"
#include "kernels/rng.h"
#include "tests/engine/random_model.h"

namespace kaito::engine::testing {

// A small random Llama (GQA). Not the HF fixture: its lm_head rows have norm 0.64 against a
// normalised hidden state of norm 8, so no adapter can lift a logit much above 5 over 383 rivals,
// which floors the loss near 1.3; here the head rows have norm ~1.4 and the vocabulary is 64.
inline const char* k_llama = R"({"model_type":"llama","vocab_size":64,"hidden_size":64,
  "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
  "max_position_embeddings":64,"rms_norm_eps":1e-5,"rope_theta":10000.0})";

inline std::shared_ptr<model> base_model(bool nf4) {
  auto c = parse_model_config(k_llama);
  EXPECT_TRUE(c.ok());
  const std::string dir = ::testing::TempDir() + "/kaito_trainer_model_" + std::to_string(getpid());
  EXPECT_TRUE(write_model_folder(dir, k_llama, c.value(), 3, 1).ok());
  auto m = load_model(dir);
  EXPECT_TRUE(m.ok()) << m.error().to_string();
  std::filesystem::remove_all(dir);
  if (nf4) nf4_quantize_linears(m.value().get(), /*double_quant=*/true);
  return m.value();
}

// "<s> <|user|> q q q <|end|> <|assistant|> a a a a <|end|>": loss on the answer and its end token.
inline std::vector<train_example> chat_dataset(int n) {
  const int32_t bos = 1, user = 3, end = 4, assistant = 5;
  std::vector<train_example> data;
  for (int i = 0; i < n; ++i) {
    train_example e;
    auto push = [&](int32_t id, bool learn) {
      e.ids.push_back(id);
      e.labels.push_back(learn ? id : -100);
    };
    push(bos, false);
    push(user, false);
    const int q_len = 2 + i % 3;  // unequal lengths exercise the padding
    for (int k = 0; k < q_len; ++k) push(int32_t(10 + rng_bits(100 + i, k) % 54), false);
    push(end, false);
    push(assistant, false);
    for (int k = 0; k < 4; ++k) push(int32_t(10 + rng_bits(200 + i, k) % 54), true);
    push(end, true);
    data.push_back(std::move(e));
  }
  return data;
}

inline lora_adapter fresh_adapter(const model& m, double dropout) {
  lora_config lc;
  lc.r = 8;
  lc.alpha = 16;
  lc.dropout = dropout;
  lc.target_modules = {"all-linear"};
  return lora_create(m.config, lc, 42).value();
}

inline train_config config(int64_t steps, int64_t mbs, int64_t accum) {
  train_config c;
  c.micro_batch_size = mbs;
  c.grad_accum = accum;
  c.total_steps = steps;
  c.adamw.weight_decay = 0.0;
  c.schedule.kind = lr_schedule_kind::linear;
  c.schedule.base_lr = 2e-2;
  c.schedule.warmup_steps = 5;
  c.schedule.total_steps = steps;
  c.max_grad_norm = 1.0;
  c.seed = 7;
  return c;
}

}  // namespace kaito::engine::testing
