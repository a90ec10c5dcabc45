// lora_combine: on the HF fixtures (Phi-3 fused modules, Llama split ones), the fixture's adapter
// at strength 0.7 plus a second adapter (other targets, rank 3 with an alpha_pattern, rslora) at
// 0.4, combined into one uniform-rank LoRA on every linear, gives the logits of the two merged
// into the base one after the other (within 1e-5), whether the combination is merged too or
// applied at run time (as the GPU model applies it); its rank is the largest sum of ranks on one
// linear, scale 1. No adapters: rank 1, zeros. Bad strengths name "strengths".
#include "engine/lora_combine.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/lora_merge.h"
#include "engine/peft_adapter.h"
#include "engine/transformer.h"
#include "kernels/rng.h"
#include "tests/engine/golden_fixtures.h"

namespace kaito::engine {
namespace {

std::vector<float> logits(const model& m, const lora_adapter* a) {
  batch b;
  b.B = 1;
  b.T = 16;
  for (int64_t i = 0; i < b.T; ++i)
    b.ids.push_back(
        static_cast<int32_t>(rng_bits(77, uint64_t(i)) % uint64_t(m.config.vocab_size)));
  forward_state st;
  EXPECT_TRUE(model_forward(m, a, b, {}, &st).ok());
  return st.logits;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = a.size() == b.size() ? 0.0f : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

class lora_combine_test : public ::testing::TestWithParam<const char*> {};

TEST_P(lora_combine_test, equals_the_adapters_merged_one_after_the_other) {
  const std::string dir = std::string(KAITO_SHARED_DIR) + "/fixtures/" + GetParam();
  auto m = load_model(dir + "/base");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  const model_config& c = m.value()->config;
  auto first = load_peft_adapter(dir + "/adapter", c);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  // a second adapter on the attention output and the MLP's down projection only
  lora_config lc;
  lc.r = 3;
  lc.alpha = 5.0;
  lc.use_rslora = true;
  lc.target_modules = {"o_proj", "down_proj"};
  lc.alpha_pattern = {{"down_proj", 9.0}};
  auto second = lora_create(c, lc, 5);
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  for (lora_module& mod : second->modules)
    for (size_t i = 0; i < mod.B.size(); ++i)
      mod.B[i] = 0.05f * (float(rng_bits(9, i) % 2001) / 1000.0f - 1.0f);
  const std::vector<float> w = {0.7f, 0.4f};

  model sequential = *m.value();
  lora_adapter a0 = *first, a1 = *second;
  for (lora_module& mod : a0.modules) mod.scale *= w[0];
  for (lora_module& mod : a1.modules) mod.scale *= w[1];
  ASSERT_TRUE(lora_merge(&sequential, a0).ok());
  ASSERT_TRUE(lora_merge(&sequential, a1).ok());
  const std::vector<float> want = logits(sequential, nullptr);

  auto both = lora_combine(c, {*first, *second}, w);
  ASSERT_TRUE(both.ok()) << both.error().to_string();
  EXPECT_EQ(both->modules.size(), model_linear_slots(c).size());  // every linear
  int64_t R = 0;
  for (const lora_module& mod : first->modules) R = std::max(R, mod.r);
  EXPECT_EQ(both->config.r, R + 3);  // o_proj / down_proj hold both adapters' ranks
  for (const lora_module& mod : both->modules) {
    EXPECT_EQ(mod.r, R + 3) << mod.path;
    EXPECT_FLOAT_EQ(mod.scale, 1.0f) << mod.path;
  }
  model merged = *m.value();
  ASSERT_TRUE(lora_merge(&merged, *both).ok());
  const float d_merged = max_diff(logits(merged, nullptr), want);
  const float d_runtime = max_diff(logits(*m.value(), &*both), want);
  const float effect = max_diff(logits(*m.value(), nullptr), want);
  std::printf(
      "%s: combined merged %.3g, at run time %.3g from the sequential merge (adapters "
      "move logits by %.3g)\n",
      GetParam(), d_merged, d_runtime, effect);
  EXPECT_LE(d_merged, 1e-5f);
  EXPECT_LE(d_runtime, 1e-5f);
  EXPECT_GT(effect, 1e-2f);
}

INSTANTIATE_TEST_SUITE_P(fixtures, lora_combine_test, ::testing::ValuesIn(testing::kGoldenFixtures),
                         testing::golden_fixture_test_name);

TEST(lora_combine, no_adapters_and_bad_strengths) {
  const std::string dir =
      std::string(KAITO_SHARED_DIR) + "/fixtures/" + testing::kGoldenFixtures[0];
  auto m = load_model(dir + "/base");
  ASSERT_TRUE(m.ok());
  auto none = lora_combine(m.value()->config, {}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->config.r, 1);
  for (const lora_module& mod : none->modules) {
    EXPECT_TRUE(std::all_of(mod.A.begin(), mod.A.end(), [](float v) { return v == 0.0f; }));
    EXPECT_TRUE(std::all_of(mod.B.begin(), mod.B.end(), [](float v) { return v == 0.0f; }));
  }
  auto a = load_peft_adapter(dir + "/adapter", m.value()->config);
  ASSERT_TRUE(a.ok());
  auto count = lora_combine(m.value()->config, {*a}, {0.5f, 0.5f});
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.error().where(), "strengths");
  auto range = lora_combine(m.value()->config, {*a}, {1.5f});
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().where(), "strengths");
}

}  // namespace
}  // namespace kaito::engine
