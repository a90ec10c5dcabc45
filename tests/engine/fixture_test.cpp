// The engine against the HF transformers + PEFT golden fixtures (issue 4 tolerances), through the
// library: every quantity of every fixture must pass.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "engine/verify.h"
#include "tests/engine/golden_fixtures.h"

namespace kaito::engine {
namespace {

class fixture_test : public ::testing::TestWithParam<const char*> {};

TEST_P(fixture_test, matches_hf_peft_within_tolerance) {
  const std::string dir = std::string(KAITO_SHARED_DIR) + "/fixtures/" + GetParam();
  auto r = verify_fixture(dir);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  std::printf("%s", format_verify_report(r.value()).c_str());
  // base_logits, lora_logits, loss, then one grad and one AdamW row per LoRA tensor.
  ASSERT_GE(r->rows.size(), 3u + 2u * 16u);
  for (const auto& row : r->rows)
    EXPECT_TRUE(row.pass) << row.quantity << " " << row.max_rel_err << " > " << row.tolerance;
  EXPECT_TRUE(r->pass());
}

INSTANTIATE_TEST_SUITE_P(fixtures, fixture_test, ::testing::ValuesIn(testing::kGoldenFixtures),
                         testing::golden_fixture_test_name);

TEST(verify, readme_hyper_parameters) {
  auto h =
      parse_readme_adamw("after one torch AdamW step lr=2e-3 betas=(0.8, 0.99) eps=1e-6 wd=0.1.\n");
  EXPECT_EQ(h.lr, 2e-3);
  EXPECT_EQ(h.beta1, 0.8);
  EXPECT_EQ(h.beta2, 0.99);
  EXPECT_EQ(h.eps, 1e-6);
  EXPECT_EQ(h.weight_decay, 0.1);
  auto d = parse_readme_adamw("nothing here");
  EXPECT_EQ(d.lr, 1e-2);
  EXPECT_EQ(d.weight_decay, 0.01);
}

TEST(verify, max_rel_err_definition) {
  const float ref[] = {1.0f, -4.0f, 2.0f};
  const float ours[] = {1.5f, -4.0f, 2.0f};
  EXPECT_DOUBLE_EQ(max_rel_err(ours, ref, 3, 3), 0.5 / 4.0);
  EXPECT_TRUE(std::isinf(max_rel_err(ours, ref, 2, 3)));
}

TEST(verify, missing_folder_is_an_error) {
  EXPECT_FALSE(verify_fixture("/nonexistent/fixture").ok());
}

}  // namespace
}  // namespace kaito::engine
