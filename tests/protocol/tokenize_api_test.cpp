// vLLM's /tokenize and /detokenize bodies (protocol/api/tokenize_api.h): both tokenize forms with
// their defaults, refusals naming the field, and the answers' JSON.
#include "protocol/api/tokenize_api.h"

#include <gtest/gtest.h>

namespace kaito::api {
namespace {

TEST(TokenizeRequest, TextAndChatFormsWithTheirDefaults) {
  auto t = parse_tokenize_request(R"({"model":"m","prompt":"The sky"})");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->model, "m");
  EXPECT_EQ(t->prompt, "The sky");
  EXPECT_TRUE(t->messages.empty());
  EXPECT_TRUE(t->add_special_tokens);
  auto c = parse_tokenize_request(
      R"({"messages":[{"role":"developer","content":[{"type":"text","text":"a"}]}],
          "add_generation_prompt":false})");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->messages.size(), 1u);
  EXPECT_EQ(c->messages[0]["role"], "system");  // normalized as for chat completions
  EXPECT_FALSE(c->add_special_tokens);          // the template writes them
  EXPECT_FALSE(c->add_generation_prompt);
  EXPECT_TRUE(parse_tokenize_request(R"({"prompt":""})").ok());  // vLLM counts 0 (or BOS)
}

TEST(TokenizeRequest, RefusalsNameTheField) {
  EXPECT_EQ(parse_tokenize_request("{}").error().where(), "prompt");
  EXPECT_EQ(parse_tokenize_request(R"({"prompt":"a","messages":[]})").error().where(), "prompt");
  EXPECT_EQ(parse_tokenize_request(R"({"prompt":3})").error().where(), "prompt");
  EXPECT_EQ(parse_tokenize_request(R"({"messages":[{"role":"x","content":"a"}]})").error().where(),
            "messages[0].role");
  EXPECT_EQ(parse_tokenize_request(R"({"prompt":"a","add_special_tokens":"yes"})").error().where(),
            "add_special_tokens");
  EXPECT_EQ(parse_tokenize_request(R"({"prompt":)").error().where().rfind("byte ", 0), 0u);
}

TEST(DetokenizeRequest, IdsInRangeOrTheirIndexNamed) {
  auto d = parse_detokenize_request(R"({"model":"m","tokens":[0,5,2147483647,7.0]})");
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->tokens, (std::vector<int32_t>{0, 5, 2147483647, 7}));
  EXPECT_EQ(parse_detokenize_request(R"({"tokens":[1,-2]})").error().where(), "tokens[1]");
  EXPECT_EQ(parse_detokenize_request(R"({"tokens":[2147483648]})").error().where(), "tokens[0]");
  EXPECT_EQ(parse_detokenize_request(R"({"tokens":[1.5]})").error().where(), "tokens[0]");
  EXPECT_EQ(parse_detokenize_request(R"({"tokens":"1 2"})").error().where(), "tokens");
  EXPECT_EQ(parse_detokenize_request(R"({})").error().where(), "tokens");
}

TEST(TokenizeResponses, VllmsShapes) {
  EXPECT_EQ(nlohmann::json::parse(tokenize_response({1, 22}, 4096)),
            nlohmann::json::parse(
                R"({"count":2,"max_model_len":4096,"tokens":[1,22],"token_strs":null})"));
  EXPECT_EQ(nlohmann::json::parse(detokenize_response("a\xff")),
            nlohmann::json::parse(R"({"prompt":"a\ufffd"})"));
}

}  // namespace
}  // namespace kaito::api
