// config.json parsing: the three fixture configs, old/new rope spellings, sliding windows, errors.
#include "engine/model_config.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

namespace kaito::engine {
namespace {

std::string fixture(const char* name) {
  return std::string(KAITO_SHARED_DIR) + "/fixtures/" + name + "/base";
}

TEST(model_config, tiny_phi3) {
  auto c = load_model_config(fixture("tiny-phi3"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->arch, model_arch::phi3);
  EXPECT_TRUE(c->fused_qkv);
  EXPECT_EQ(c->vocab_size, 384);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 160);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope.kind, rope_type::standard);
  EXPECT_EQ(c->rope.theta, 10000.0);
  EXPECT_EQ(c->rope.rotary_dim, 16);
  EXPECT_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_EQ(c->layer_window, (std::vector<int64_t>{0, 0}));
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2}));
}

TEST(model_config, tiny_phi3_longrope) {
  auto c = load_model_config(fixture("tiny-phi3-longrope"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->rope.kind, rope_type::longrope);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 32);
  ASSERT_EQ(c->rope.long_factor.size(), 8u);
  EXPECT_FLOAT_EQ(c->rope.long_factor[7], 4.5f);
  EXPECT_FLOAT_EQ(c->rope.short_factor[1], 1.05f);
  // factor = 256/32 = 8: sqrt(1 + ln 8 / ln 32) = sqrt(1.6).
  EXPECT_NEAR(c->rope.attention_factor, std::sqrt(1.6), 1e-12);
}

TEST(model_config, tiny_llama_gqa) {
  auto c = load_model_config(fixture("tiny-llama-gqa"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->arch, model_arch::llama);
  EXPECT_FALSE(c->fused_qkv);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope.theta, 500000.0);
}

TEST(model_config, phi3_128k_su_with_rope_scaling) {
  // The April-2024 Phi-3-mini-128k spelling: top-level rope_theta, rope_scaling.type = "su".
  std::string j = R"({"model_type":"phi3","vocab_size":32064,"hidden_size":3072,
    "intermediate_size":8192,"num_hidden_layers":32,"num_attention_heads":32,
    "max_position_embeddings":131072,"original_max_position_embeddings":4096,"rope_theta":10000.0,
    "sliding_window":262144,"rope_scaling":{"type":"su","short_factor":[)";
  for (int i = 0; i < 48; ++i) j += std::string(i ? "," : "") + "1.0";
  j += R"(],"long_factor":[)";
  for (int i = 0; i < 48; ++i) j += std::string(i ? "," : "") + "2.0";
  j += "]}}";
  auto c = parse_model_config(j);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->head_dim, 96);
  EXPECT_EQ(c->num_kv_heads, 32);
  EXPECT_EQ(c->rope.kind, rope_type::longrope);
  EXPECT_NEAR(c->rope.attention_factor, 1.1902380714, 1e-9);  // qlora.md §4.1
  EXPECT_EQ(c->layer_window[31], 262144);
}

TEST(model_config, llama3_rope_and_qwen2_windows) {
  auto c = parse_model_config(R"({"model_type":"llama","vocab_size":128,"hidden_size":64,
    "intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
    "high_freq_factor":4.0,"original_max_position_embeddings":256},"eos_token_id":[1,2]})");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->rope.kind, rope_type::llama3);
  EXPECT_EQ(c->rope.factor, 8.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 256);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{1, 2}));

  auto q = parse_model_config(R"({"model_type":"qwen2","vocab_size":128,"hidden_size":64,
    "intermediate_size":96,"num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":1,
    "sliding_window":32,"use_sliding_window":true,"max_window_layers":2,"tie_word_embeddings":true})");
  ASSERT_TRUE(q.ok()) << q.error().to_string();
  EXPECT_TRUE(q->qkv_bias);
  EXPECT_FALSE(q->o_bias);
  EXPECT_TRUE(q->tie_word_embeddings);
  EXPECT_EQ(q->layer_window, (std::vector<int64_t>{0, 0, 32, 32}));

  auto m = parse_model_config(R"({"model_type":"mistral","vocab_size":128,"hidden_size":64,
    "intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "sliding_window":4096})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->layer_window, (std::vector<int64_t>{4096, 4096}));
}

TEST(model_config, errors_name_the_field) {
  const std::string base = R"("vocab_size":128,"hidden_size":64,"intermediate_size":96,
    "num_hidden_layers":2,"num_attention_heads":4)";
  struct row {
    std::string json;
    const char* where;
  } rows[] = {
      {"[1]", ""},
      {"{", ""},
      {R"({"model_type":"gpt2",)" + base + "}", "model_type"},
      {R"({"model_type":"llama","hidden_size":64})", "vocab_size"},
      {R"({"model_type":"llama",)" + base + R"(,"num_key_value_heads":3})", "num_key_value_heads"},
      {R"({"model_type":"llama",)" + base + R"(,"hidden_size":"64"})", "hidden_size"},
      {R"({"model_type":"llama",)" + base + R"(,"rope_scaling":{"type":"yarn","factor":2}})",
       "rope_scaling.rope_type"},
      {R"({"model_type":"phi3",)" + base +
           R"(,"rope_scaling":{"type":"longrope","short_factor":[1,1],"long_factor":[1]}})",
       "rope_scaling.short_factor"},
      {R"({"model_type":"llama",)" + base +
           R"(,"rope_parameters":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4}})",
       "rope_parameters.original_max_position_embeddings"},
      {R"({"model_type":"llama",)" + base + R"(,"hidden_act":"gelu"})", "hidden_act"},
      {R"({"model_type":"mistral",)" + base + R"(,"sliding_window":-3})", "sliding_window"},
      {R"({"model_type":"llama",)" + base + R"(,"rope_parameters":{"partial_rotary_factor":0.01}})",
       "rope_parameters.partial_rotary_factor"},
  };
  for (const auto& r : rows) {
    auto c = parse_model_config(r.json);
    ASSERT_FALSE(c.ok()) << r.json;
    EXPECT_EQ(c.error().where(), r.where) << r.json << " -> " << c.error().to_string();
  }
}

}  // namespace
}  // namespace kaito::engine
