// lora_merge: on the HF fixtures (Phi-3 fused qkv/gate_up at offset 0, Llama q/k/v and gate/up at
// their row slices of the fused projections), the merged model without an adapter gives the same
// logits as the base model with the adapter applied at run time, within 1e-5; NF4 bases and
// mismatched adapters are refused without touching the model.
#include "engine/lora_merge.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "engine/peft_adapter.h"
#include "engine/transformer.h"
#include "kernels/rng.h"
#include "tests/engine/golden_fixtures.h"

namespace kaito::engine {
namespace {

std::vector<float> logits(const model& m, const lora_adapter* a) {
  batch b;
  b.B = 2;
  b.T = 24;
  for (int64_t i = 0; i < b.B * b.T; ++i)
    b.ids.push_back(
        static_cast<int32_t>(rng_bits(123, uint64_t(i)) % uint64_t(m.config.vocab_size)));
  forward_state st;
  EXPECT_TRUE(model_forward(m, a, b, {}, &st).ok());
  return st.logits;
}

class lora_merge_test : public ::testing::TestWithParam<const char*> {};

TEST_P(lora_merge_test, merged_logits_equal_run_time_adapter) {
  const std::string dir = std::string(KAITO_SHARED_DIR) + "/fixtures/" + GetParam();
  auto m = load_model(dir + "/base");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto a = load_peft_adapter(dir + "/adapter", m.value()->config);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  const std::vector<float> want = logits(*m.value(), &a.value());
  const std::vector<float> base = logits(*m.value(), nullptr);
  model merged = *m.value();
  ASSERT_TRUE(lora_merge(&merged, a.value()).ok());
  const std::vector<float> got = logits(merged, nullptr);
  ASSERT_EQ(got.size(), want.size());
  float diff = 0.0f, effect = 0.0f;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    effect = std::max(effect, std::abs(base[i] - want[i]));
  }
  std::printf("%s: max |merged - run-time| = %.3g (adapter moves logits by up to %.3g)\n",
              GetParam(), diff, effect);
  EXPECT_LE(diff, 1e-5f);
  EXPECT_GT(effect, 1e-2f);  // the adapter matters, so the comparison means something
}

INSTANTIATE_TEST_SUITE_P(fixtures, lora_merge_test, ::testing::ValuesIn(testing::kGoldenFixtures),
                         testing::golden_fixture_test_name);

TEST(lora_merge, refuses_nf4_and_misplaced_modules_without_changes) {
  const std::string dir = std::string(KAITO_SHARED_DIR) + "/fixtures/tiny-llama-gqa";
  auto m = load_model(dir + "/base");
  ASSERT_TRUE(m.ok());
  auto a = load_peft_adapter(dir + "/adapter", m.value()->config).value();
  model q = *m.value();
  nf4_quantize_linears(&q, false);
  auto s = lora_merge(&q, a);
  EXPECT_EQ(s.code(), status_code::failed_precondition);
  model f = *m.value();
  lora_adapter bad = a;
  bad.modules.back().row_offset = f.weights.layers[0].qkv.out;  // past the fused rows
  s = lora_merge(&f, bad);
  EXPECT_EQ(s.code(), status_code::invalid_argument);
  EXPECT_EQ(s.where(), bad.modules.back().path);
  for (size_t l = 0; l < f.weights.layers.size(); ++l)
    EXPECT_EQ(f.weights.layers[l].qkv.w, m.value()->weights.layers[l].qkv.w);
}

}  // namespace
}  // namespace kaito::engine
