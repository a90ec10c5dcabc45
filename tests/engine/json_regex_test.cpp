// json_regex against Python's `re` (json_regex_peer.py, what the `jsonschema` package matches
// with): for a set of patterns, random ASCII texts and texts built to match, the same verdict;
// lengths and the states' viability; the DFA's limits.
#include "engine/json_regex.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::engine {
namespace {

std::shared_ptr<const json_regex> compile(const std::string& p, int64_t lo = 0, int64_t hi = -1) {
  auto r = json_regex::compile(p, lo, hi, "pattern");
  EXPECT_TRUE(r.ok()) << p << ": " << r.take_status().to_string();
  return r.ok() ? *r : nullptr;
}

TEST(JsonRegex, AgreesWithPythonsRe) {
  const std::vector<std::string> patterns = {
      "^[A-Z]{3}-\\d{2,}$",
      "ab+c",
      "^(?:ab|cd)*x?$",
      "a|b$|^c",
      "^\\w+@\\w+\\.[a-z]{2,3}$",
      "[^a-c]{2}",
      "^\\s*\\S+\\s*$",
      "^(a|ab)(c|bcd)(d*)$",
      "x{2,}y{0,2}z?",
      "^[\\d.-]+$",
      "^\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\^\\$$",
      "[-a]b[a-]",
      "^.{3,5}$",
      "^(?:[0-9]{1,3}\\.){3}[0-9]{1,3}$",
      "^$",
      "",
      "^\\x41\\u0042[\\t ]c$",
      "^(?:(?:a{2}){2})+$",
  };
  const std::string alphabet = "abcdxyzABCZ0129.-_@* \t\\^$+?()[]{}|";
  std::mt19937 rng(5);
  const std::string out = std::string(KAITO_BINARY_DIR) + "/tests/engine/json_regex_cases.jsonl";
  std::ofstream lines(out);
  int matched = 0, cases = 0;
  for (const std::string& p : patterns) {
    auto re = compile(p);
    ASSERT_TRUE(re);
    for (int i = 0; i < 400; ++i) {
      std::string text;
      const int n = static_cast<int>(rng() % 12);
      for (int k = 0; k < n; ++k) text += alphabet[rng() % alphabet.size()];
      if (i % 2) {  // half grown along the DFA, so that matches come too
        text.clear();
        int32_t s = re->start();
        for (int k = 0; k < n || !re->accepting(s); ++k) {
          std::vector<char> next;
          for (char c : alphabet)
            if (re->next(s, static_cast<unsigned char>(c)) >= 0) next.push_back(c);
          if (next.empty() || k > 40) break;
          const char c = next[rng() % next.size()];
          s = re->next(s, static_cast<unsigned char>(c));
          text += c;
        }
      }
      const bool m = re->matches(text);
      matched += m;
      ++cases;
      lines << nlohmann::json{{"pattern", p}, {"text", text}, {"match", m}}.dump() << "\n";
    }
  }
  lines.close();
  EXPECT_GT(matched, cases / 4);
  EXPECT_LT(matched, cases * 3 / 4);
  const std::string cmd =
      "python3 " + std::string(KAITO_SOURCE_DIR) + "/tests/engine/json_regex_peer.py " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(JsonRegex, LengthsAndViability) {
  auto re = compile("^(?:ab)+$", 3, 6);  // "abab" or "ababab"
  ASSERT_TRUE(re);
  EXPECT_FALSE(re->matches("ab"));
  EXPECT_TRUE(re->matches("abab"));
  EXPECT_TRUE(re->matches("ababab"));
  EXPECT_FALSE(re->matches("abababab"));
  int32_t s = re->next(re->start(), 'a');
  EXPECT_TRUE(re->viable(s, 1));
  s = re->next(re->next(re->next(re->next(re->next(s, 'b'), 'a'), 'b'), 'a'), 'b');
  EXPECT_TRUE(re->accepting(s));
  EXPECT_FALSE(re->viable(re->next(s, 'a'), 7));  // a 7th character: no match of <= 6 left
  // unbounded max: some match at least min long
  auto at_least = compile("^a*$", 5, -1);
  ASSERT_TRUE(at_least);
  EXPECT_FALSE(at_least->matches("aaaa"));
  EXPECT_TRUE(at_least->matches("aaaaaaaa"));
  EXPECT_EQ(re->next(re->start(), 0xE9), -1);  // past ASCII
}

TEST(JsonRegex, RefusesWhatItCannotHold) {
  for (const char* p : {"(?=a)", "(?!a)", "(?<=a)b", "\\1", "\\bx", "\\p{L}", "a^", "a$b",
                        "^\\u00e9$", "(a{1000}){1000}"}) {
    auto r = json_regex::compile(p, 0, -1, "p");
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.error().code(), status_code::unimplemented) << p << ": " << r.error().to_string();
    EXPECT_EQ(r.error().where(), "p");
  }
  for (const char* p : {"[a-", "a{3,1}", "(ab", "ab)", "*a", "a\\", "\\q", "[z-a]"}) {
    auto r = json_regex::compile(p, 0, -1, "p");
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.error().code(), status_code::invalid_argument)
        << p << ": " << r.error().to_string();
  }
}

}  // namespace
}  // namespace kaito::engine
