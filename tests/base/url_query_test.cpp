// url_query: percent-decoding and query strings as Go's net/url reads them.
#include "base/url_query.h"

#include <gtest/gtest.h>

namespace kaito {
namespace {

TEST(UrlQuery, DecodesEscapesAndPlus) {
  std::string out;
  ASSERT_TRUE(percent_decode("a%20b+c%2Fd%e2%82%AC", true, out));
  EXPECT_EQ(out, "a b c/d\xe2\x82\xac");
  ASSERT_TRUE(percent_decode("a+b", false, out));  // in a path '+' is itself
  EXPECT_EQ(out, "a+b");
  for (const char* bad : {"%", "%2", "a%zz", "%g0"}) EXPECT_FALSE(percent_decode(bad, true, out));
}

TEST(UrlQuery, SplitsPairsTheLastValueWinning) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(parse_query("limit=5&order=asc&flag&=x&limit=7&include%5B%5D=a.b&&", q).ok());
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q["limit"], "7");
  EXPECT_EQ(q["order"], "asc");
  EXPECT_EQ(q["flag"], "");
  EXPECT_EQ(q["include[]"], "a.b");
  std::map<std::string, std::string> empty;
  EXPECT_TRUE(parse_query("", empty).ok());
  EXPECT_TRUE(empty.empty());
  const status bad = parse_query("a=%zz", q);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.to_string().find("percent-escape"), std::string::npos) << bad.to_string();
}

}  // namespace
}  // namespace kaito
