#include "base/status.h"

#include <gtest/gtest.h>

namespace kaito {
namespace {

result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("must be positive", "spec.count");
  return v;
}

status use_try(int v, int* out) {
  KAITO_ASSIGN_OR_RETURN(int got, parse_positive(v));
  *out = got;
  KAITO_TRY(status());
  return status();
}

TEST(status, ok_and_error) {
  EXPECT_TRUE(status().ok());
  status s = invalid_argument("bad value", "tuning.method");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), status_code::invalid_argument);
  EXPECT_EQ(s.to_string(), "tuning.method: bad value");
  EXPECT_EQ(s.with_context("validate").to_string(), "tuning.method: validate: bad value");
  EXPECT_STREQ(status_code_name(status_code::conflict), "conflict");
}

TEST(status, result_and_macros) {
  int out = 0;
  EXPECT_TRUE(use_try(3, &out).ok());
  EXPECT_EQ(out, 3);
  status s = use_try(-1, &out);
  EXPECT_EQ(s.where(), "spec.count");
  EXPECT_EQ(out, 3);  // unchanged on failure
  result<int> r = parse_positive(5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  EXPECT_FALSE(parse_positive(0).ok());
}

TEST(status_death, value_of_error_aborts) {
  EXPECT_DEATH((void)parse_positive(0).value(), "result::value\\(\\) on an error");
}

}  // namespace
}  // namespace kaito
