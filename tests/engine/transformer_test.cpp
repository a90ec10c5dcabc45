// The transformer on shapes the HF fixtures do not cover (qwen2 q/k/v biases, tied embeddings,
// llama3 RoPE, sliding windows, sharded checkpoints, LoRA dropout): LoRA gradients against central
// finite differences of the loss, and attention locality under a sliding window.
#include "engine/transformer.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/model_weights.h"
#include "tests/engine/random_model.h"

namespace kaito::engine {
namespace {

const char* k_qwen2 = R"({"model_type":"qwen2","vocab_size":40,"hidden_size":32,
  "intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
  "max_position_embeddings":64,"rms_norm_eps":1e-6,"tie_word_embeddings":true,
  "sliding_window":3,"use_sliding_window":true,"max_window_layers":1,
  "rope_parameters":{"rope_type":"llama3","rope_theta":10000.0,"factor":4.0,"low_freq_factor":1.0,
  "high_freq_factor":4.0,"original_max_position_embeddings":4}})";

const char* k_mistral = R"({"model_type":"mistral","vocab_size":40,"hidden_size":32,
  "intermediate_size":48,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":1,
  "max_position_embeddings":64,"rms_norm_eps":1e-5,"sliding_window":3,"rope_theta":10000.0})";

std::string temp_dir(const std::string& name) {
  return ::testing::TempDir() + "/kaito_" + name + "_" + std::to_string(getpid());
}

std::shared_ptr<model> make_model(const char* json, int shards, const std::string& name) {
  auto c = parse_model_config(json);
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  const std::string dir = temp_dir(name);
  EXPECT_TRUE(testing::write_model_folder(dir, json, c.value(), 7, shards).ok());
  auto m = load_model(dir);
  EXPECT_TRUE(m.ok()) << m.error().to_string();
  std::filesystem::remove_all(dir);
  return m.ok() ? m.value() : nullptr;
}

batch make_batch(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  batch b;
  b.B = B;
  b.T = T;
  for (int64_t i = 0; i < B * T; ++i) {
    b.ids.push_back(static_cast<int32_t>(rng_bits(seed, i) % static_cast<uint64_t>(V)));
    b.labels.push_back(i % T < 2 ? -100 : b.ids.back());
  }
  return b;
}

// Central differences of the loss w.r.t. a few entries of every A and B, against model_backward.
void check_gradients(const model& m, lora_adapter& a, const batch& b, const forward_options& opt) {
  forward_state st;
  ASSERT_TRUE(model_forward(m, &a, b, opt, &st).ok());
  a.zero_grad();
  ASSERT_TRUE(model_backward(m, &a, b, st).ok());
  const float h = 1e-2f;
  for (auto& mod : a.modules) {
    for (bool is_b : {false, true}) {
      std::vector<float>& p = is_b ? mod.B : mod.A;
      const std::vector<float>& g = is_b ? mod.dB : mod.dA;
      double gmax = 0;
      for (float v : g) gmax = std::max(gmax, std::fabs(double(v)));
      ASSERT_GT(gmax, 0.0) << mod.path;
      for (size_t k = 0; k < p.size(); k += p.size() / 5 + 1) {
        const float saved = p[k];
        p[k] = saved + h;
        ASSERT_TRUE(model_forward(m, &a, b, opt, &st).ok());
        const double up = st.loss;
        p[k] = saved - h;
        ASSERT_TRUE(model_forward(m, &a, b, opt, &st).ok());
        const double down = st.loss;
        p[k] = saved;
        const double fd = (up - down) / (2.0 * h);
        // fp32 forward: rounding noise ~1e-6 / h plus O(h^2) curvature; 2% of the largest entry.
        EXPECT_NEAR(fd, g[k], 2e-2 * gmax + 1e-5) << mod.path << (is_b ? ".B[" : ".A[") << k << "]";
      }
    }
  }
}

lora_adapter random_adapter(const model& m, double dropout) {
  lora_config lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.dropout = dropout;
  lc.target_modules = {"all-linear"};
  auto a = lora_create(m.config, lc, 11);
  EXPECT_TRUE(a.ok());
  // PEFT starts B at zero; a trained adapter does not: make every path non-trivial.
  uint64_t tag = 100;
  for (auto& mod : a->modules) mod.B = testing::random_vec(int64_t(mod.B.size()), ++tag, 0.3f);
  return a.value();
}

TEST(transformer, qwen2_tied_biased_sharded_gradients) {
  auto m = make_model(k_qwen2, 3, "qwen2");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->weights.lm_head(), m->weights.embed.data());  // tied
  EXPECT_EQ(m->weights.layers[0].qkv.bias.size(), size_t((4 + 2 * 2) * 8));
  EXPECT_EQ(m->config.layer_window, (std::vector<int64_t>{0, 3}));
  lora_adapter a = random_adapter(*m, 0.0);
  EXPECT_EQ(a.modules.size(), 14u);  // q k v o gate up down x 2 layers
  check_gradients(*m, a, make_batch(2, 7, 40, 3), {});
}

TEST(transformer, mistral_window_gradients_with_dropout) {
  auto m = make_model(k_mistral, 1, "mistral");
  ASSERT_NE(m, nullptr);
  lora_adapter a = random_adapter(*m, 0.25);
  forward_options opt;
  opt.training = true;
  opt.dropout_seed = 5;
  check_gradients(*m, a, make_batch(1, 9, 40, 4), opt);
  // Dropout is active in training and off in evaluation.
  forward_state st_train, st_eval;
  batch b = make_batch(1, 9, 40, 4);
  ASSERT_TRUE(model_forward(*m, &a, b, opt, &st_train).ok());
  ASSERT_TRUE(model_forward(*m, &a, b, {}, &st_eval).ok());
  EXPECT_NE(st_train.loss, st_eval.loss);
}

TEST(transformer, sliding_window_limits_what_a_query_sees) {
  auto m = make_model(k_mistral, 1, "mistral_window");
  ASSERT_NE(m, nullptr);
  batch b = make_batch(1, 8, 40, 9);
  b.labels.clear();
  forward_state s1, s2;
  ASSERT_TRUE(model_forward(*m, nullptr, b, {}, &s1).ok());
  b.ids[0] = (b.ids[0] + 1) % 40;
  ASSERT_TRUE(model_forward(*m, nullptr, b, {}, &s2).ok());
  const int64_t V = 40;
  for (int64_t t = 0; t < 8; ++t) {
    bool same = true;
    for (int64_t v = 0; v < V; ++v) same &= s1.logits[t * V + v] == s2.logits[t * V + v];
    // One layer, window 3 (HF eager: keys t-2..t): token 0 reaches queries 0, 1 and 2 only.
    EXPECT_EQ(same, t >= 3) << "t=" << t;
  }
}

TEST(transformer, rejects_bad_batches) {
  auto m = make_model(k_mistral, 1, "mistral_bad");
  ASSERT_NE(m, nullptr);
  forward_state st;
  batch b = make_batch(1, 4, 40, 1);
  b.ids[2] = 40;
  auto s = model_forward(*m, nullptr, b, {}, &st);
  EXPECT_EQ(s.code(), status_code::invalid_argument);
  EXPECT_EQ(s.where(), "batch.ids[2]");
  b = make_batch(1, 4, 40, 1);
  b.pos = {0, 1, 2, 64};
  EXPECT_EQ(model_forward(*m, nullptr, b, {}, &st).where(), "batch.pos[3]");
  b = make_batch(1, 4, 40, 1);
  b.labels.clear();
  ASSERT_TRUE(model_forward(*m, nullptr, b, {}, &st).ok());
  EXPECT_EQ(model_backward(*m, nullptr, b, st).code(), status_code::failed_precondition);
}

TEST(model_weights, missing_or_misshapen_tensors_are_named) {
  auto c = parse_model_config(k_mistral);
  ASSERT_TRUE(c.ok());
  const std::string dir = temp_dir("phi3_from_mistral");
  ASSERT_TRUE(testing::write_model_folder(dir, k_mistral, c.value(), 1, 1).ok());
  // Claim phi3: the fused qkv_proj the loader needs is not in the file.
  std::string phi3 = k_mistral;
  phi3.replace(phi3.find("mistral"), 7, "phi3");
  {
    std::ofstream f(dir + "/config.json");
    f << phi3;
  }
  auto m = load_model(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), status_code::not_found);
  EXPECT_EQ(m.error().where(), "model.layers.0.self_attn.qkv_proj.weight");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kaito::engine
