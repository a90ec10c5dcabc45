// Greedy generation with the KV cache equals greedy decoding by full recomputation (model_forward
// over the whole sequence at every step), including GQA, sliding windows, LoRA at run time and the
// longrope short->long switch.
#include "engine/generate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/peft_adapter.h"
#include "engine/transformer.h"
#include "tests/engine/random_model.h"

namespace kaito::engine {
namespace {

// Greedy decoding by recomputing model_forward over the whole sequence at every step; the last
// row's logits of each step are appended to `logits` when given.
std::vector<int32_t> naive_greedy(const model& m, const lora_adapter* lora,
                                  std::vector<int32_t> seq, int64_t n,
                                  std::vector<float>* logits = nullptr) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    batch b;
    b.B = 1;
    b.T = static_cast<int64_t>(seq.size());
    b.ids = seq;
    forward_state st;
    EXPECT_TRUE(model_forward(m, lora, b, {}, &st).ok());
    const int64_t V = m.config.vocab_size;
    auto row = st.logits.begin() + (b.T - 1) * V;
    if (logits) logits->insert(logits->end(), row, row + V);
    const int32_t next = static_cast<int32_t>(std::max_element(row, row + V) - row);
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

// Cached decode (attention_forward_cached_cpu) against full recomputation, token for token and
// logits within 1e-5, on random models: GQA llama, and GQA phi3 longrope whose generation crosses
// original_max_position_embeddings (short -> long factors, cache re-prefilled).
TEST(generate, cached_decode_equals_full_forward_logits) {
  int idx = 0;
  for (const char* json : {testing::kDecodeLlamaConfig, testing::kDecodePhi3Config}) {
    auto c = parse_model_config(json);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    const std::string dir = ::testing::TempDir() + "/kaito_gen_cached_" + std::to_string(getpid()) +
                            "_" + std::to_string(idx++);
    ASSERT_TRUE(testing::write_model_folder(dir, json, c.value(), 17, 1).ok());
    auto m = load_model(dir);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    // 12 prompt tokens + 10 new ones: the phi3 sequence crosses 16 at the 5th new token.
    std::vector<int32_t> prompt;
    for (int i = 0; i < 12; ++i) prompt.push_back(int32_t(rng_bits(31, i) % 64));
    std::vector<float> got_logits, want_logits;
    generate_options opt;
    opt.max_new_tokens = 10;
    opt.step_logits = &got_logits;
    auto got = generate_greedy(*m.value(), nullptr, prompt, opt);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got.value(), naive_greedy(*m.value(), nullptr, prompt, 10, &want_logits));
    EXPECT_LE(testing::max_abs_diff(got_logits, want_logits), 1e-5f) << json;
  }
}

TEST(generate, kv_cache_matches_recompute_gqa_window_lora) {
  const char* json = R"({"model_type":"mistral","vocab_size":48,"hidden_size":32,
    "intermediate_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "max_position_embeddings":64,"rms_norm_eps":1e-5,"sliding_window":4,"rope_theta":10000.0})";
  auto c = parse_model_config(json);
  ASSERT_TRUE(c.ok());
  const std::string dir = ::testing::TempDir() + "/kaito_gen_" + std::to_string(getpid());
  ASSERT_TRUE(testing::write_model_folder(dir, json, c.value(), 5, 1).ok());
  auto m = load_model(dir);
  ASSERT_TRUE(m.ok());
  std::filesystem::remove_all(dir);
  lora_config lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.target_modules = {"all-linear"};
  lora_adapter a = lora_create(m.value()->config, lc, 3).value();
  for (auto& mod : a.modules) mod.B = testing::random_vec(int64_t(mod.B.size()), 9, 0.5f);
  const std::vector<int32_t> prompt = {1, 7, 30, 12, 5, 44};
  for (const lora_adapter* la : std::vector<const lora_adapter*>{nullptr, &a}) {
    generate_options opt;
    opt.max_new_tokens = 14;
    auto got = generate_greedy(*m.value(), la, prompt, opt);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got.value(), naive_greedy(*m.value(), la, prompt, 14));
  }
  // Stop tokens end generation (and are kept).
  generate_options opt;
  opt.max_new_tokens = 14;
  auto all = generate_greedy(*m.value(), nullptr, prompt, opt).value();
  opt.stop_tokens = {all[3]};
  auto stopped = generate_greedy(*m.value(), nullptr, prompt, opt).value();
  const auto first = std::find(all.begin(), all.end(), all[3]) - all.begin();
  EXPECT_EQ(stopped, std::vector<int32_t>(all.begin(), all.begin() + first + 1));
  EXPECT_FALSE(generate_greedy(*m.value(), nullptr, {}, opt).ok());
  EXPECT_EQ(generate_greedy(*m.value(), nullptr, {1, 48}, opt).error().where(), "prompt[1]");
}

TEST(generate, longrope_switch_recomputes_the_cache) {
  // tiny-phi3-longrope: original_max_position_embeddings = 32. A 28-token prompt plus 10 new
  // tokens crosses from the short to the long factors at length 33.
  const std::string fx = std::string(KAITO_SHARED_DIR) + "/fixtures/tiny-phi3-longrope";
  auto m = load_model(fx + "/base");
  ASSERT_TRUE(m.ok());
  auto a = load_peft_adapter(fx + "/adapter", m.value()->config);
  ASSERT_TRUE(a.ok());
  std::vector<int32_t> prompt;
  for (int i = 0; i < 28; ++i) prompt.push_back(int32_t(rng_bits(77, i) % 384));
  generate_options opt;
  opt.max_new_tokens = 10;
  auto got = generate_greedy(*m.value(), &a.value(), prompt, opt);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value(), naive_greedy(*m.value(), &a.value(), prompt, 10));
}

}  // namespace
}  // namespace kaito::engine
