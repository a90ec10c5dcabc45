// Test-only: the golden fixtures of ../shared/fixtures (HF transformers + PEFT, see their README)
// that every engine is checked on, as a GoogleTest parameter list with readable test names.
//   INSTANTIATE_TEST_SUITE_P(fixtures, my_test,
//   ::testing::ValuesIn(kaito::testing::kGoldenFixtures),
//                            kaito::testing::golden_fixture_test_name);
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace kaito::testing {

inline constexpr const char* kGoldenFixtures[] = {"tiny-phi3", "tiny-phi3-longrope",
                                                  "tiny-llama-gqa"};

// "tiny-phi3-longrope" -> "tiny_phi3_longrope" (GoogleTest names take no dashes).
inline std::string golden_fixture_test_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string s = info.param;
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
}

}  // namespace kaito::testing
