// chat_api: the OpenAI /v1/chat/completions and legacy /chat request parsers, every refusal with
// its where(), the bodies recorded from the `openai` Python client (data/openai_requests/), and the
// response, stream, error and model-list bodies read back field by field.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "protocol/api/chat_api.h"
#include "protocol/api/chat_tools.h"
#include "protocol/api/responses_api.h"

namespace kaito::api {
namespace {

using ojson = nlohmann::ordered_json;

chat_request openai_ok(const std::string& body) {
  auto r = parse_openai_chat_request(body);
  EXPECT_TRUE(r.ok()) << body << " -> " << r.take_status().to_string();
  return r.ok() ? *r : chat_request{};
}

const char* kUser = R"("messages":[{"role":"user","content":"hi"}])";

TEST(OpenaiChatRequest, MinimalTakesTheDefaults) {
  auto r = openai_ok(std::string("{") + kUser + "}");
  EXPECT_EQ(r.model, "");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0]["role"], "user");
  EXPECT_EQ(r.messages[0]["content"], "hi");
  EXPECT_EQ(r.prompt, "");
  EXPECT_EQ(r.params.max_tokens, 200);
  EXPECT_EQ(r.params.temperature, 1.0);
  EXPECT_EQ(r.params.top_p, 1.0);
  EXPECT_EQ(r.params.top_k, 0);
  EXPECT_EQ(r.params.repetition_penalty, 1.0);
  EXPECT_FALSE(r.params.has_seed);
  EXPECT_TRUE(r.params.stop.empty());
  EXPECT_FALSE(r.stream);
}

TEST(OpenaiChatRequest, AllParams) {
  auto r = openai_ok(R"({"model":"phi-3","messages":[
      {"role":"system","content":"s"},{"role":"user","content":"u"},
      {"role":"assistant","content":"a"},{"role":"tool","content":"t","tool_call_id":"c1"},
      {"role":"assistant","content":null},{"role":"developer","content":"d"}],
      "max_tokens":7,"temperature":0,"top_p":0.5,"top_k":40,"repetition_penalty":1.2,
      "seed":-1,"stop":["a","","b"],"n":1,"stream":true,"logprobs":false,"user":"x",
      "tools":[],"tool_choice":"auto","response_format":{"type":"text"},
      "presence_penalty":0.5,"frequency_penalty":-1.5,"logit_bias":{},"stream_options":{}})");
  EXPECT_EQ(r.model, "phi-3");
  ASSERT_EQ(r.messages.size(), 6u);
  EXPECT_EQ(r.messages[3]["role"], "tool");
  EXPECT_EQ(r.messages[4]["content"], "");
  EXPECT_EQ(r.messages[5]["role"], "system");
  EXPECT_EQ(r.messages[5].size(), 2u);  // only role and content
  EXPECT_EQ(r.params.max_tokens, 7);
  EXPECT_EQ(r.params.temperature, 0.0);
  EXPECT_EQ(r.params.top_p, 0.5);
  EXPECT_EQ(r.params.top_k, 40);
  EXPECT_DOUBLE_EQ(r.params.repetition_penalty, 1.2);
  EXPECT_DOUBLE_EQ(r.params.presence_penalty, 0.5);
  EXPECT_DOUBLE_EQ(r.params.frequency_penalty, -1.5);
  EXPECT_TRUE(r.params.has_seed);
  EXPECT_EQ(r.params.seed, UINT64_MAX);
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.stream);
}

TEST(OpenaiChatRequest, StopSeedTokensAndTopK) {
  auto base = [](const std::string& extra) { return std::string("{") + kUser + "," + extra + "}"; };
  EXPECT_EQ(openai_ok(base(R"("stop":"###")")).params.stop, std::vector<std::string>{"###"});
  EXPECT_TRUE(openai_ok(base(R"("stop":"")")).params.stop.empty());
  EXPECT_EQ(openai_ok(base(R"("stop":["1","2","3","4"])")).params.stop.size(), 4u);
  EXPECT_EQ(openai_ok(base(R"("seed":18446744073709551615)")).params.seed, UINT64_MAX);
  EXPECT_EQ(openai_ok(base(R"("seed":42)")).params.seed, 42u);
  EXPECT_EQ(openai_ok(base(R"("max_tokens":100.0)")).params.max_tokens, 100);
  EXPECT_EQ(openai_ok(base(R"("max_tokens":5,"max_completion_tokens":9)")).params.max_tokens, 9);
  EXPECT_EQ(openai_ok(base(R"("max_completion_tokens":1048576)")).params.max_tokens, 1 << 20);
  EXPECT_EQ(openai_ok(base(R"("top_k":-1)")).params.top_k, 0);
  EXPECT_EQ(openai_ok(base(R"("temperature":2,"top_p":1)")).params.temperature, 2.0);
  EXPECT_EQ(openai_ok(base(R"("model":null,"seed":null,"stop":null)")).params.has_seed, false);
}

TEST(OpenaiChatRequest, ContentPartsAreJoinedWithNewlines) {
  auto r = openai_ok(R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"one"},{"type":"text","text":"two"}]},
      {"role":"user","content":[]}]})");
  EXPECT_EQ(r.messages[0]["content"], "one\ntwo");
  EXPECT_EQ(r.messages[1]["content"], "");
}

struct refusal {
  const char* body;
  status_code code;
  const char* where;
  const char* says;  // a piece of the message
};

void expect_refusals(const std::vector<refusal>& rows, bool legacy) {
  for (const auto& row : rows) {
    auto r = legacy ? parse_legacy_chat_request(row.body) : parse_openai_chat_request(row.body);
    ASSERT_FALSE(r.ok()) << row.body;
    EXPECT_EQ(r.error().code(), row.code) << row.body << " -> " << r.error().to_string();
    EXPECT_EQ(r.error().where(), row.where) << row.body << " -> " << r.error().to_string();
    EXPECT_NE(r.error().message().find(row.says), std::string::npos)
        << row.body << " -> " << r.error().message();
  }
}

TEST(OpenaiChatRequest, EveryRefusalNamesItsField) {
  const auto bad = status_code::invalid_argument;
  const auto unimpl = status_code::unimplemented;
  expect_refusals(
      {
          {"", bad, "byte 0", "malformed JSON"},
          {R"({"messages":tru})", bad, "byte 15", "invalid literal"},
          {"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", bad, "byte 39", "UTF-8"},
          {R"({"temperature":1e999})", bad, "byte 15", "overflow"},
          {(std::string(70, '[') + std::string(70, ']')).c_str(), bad, "byte 0", "nested"},
          {"[]", bad, "", "expected a JSON object as the request body, got an empty array"},
          {"{}", bad, "messages", "required"},
          {R"({"messages":[]})", bad, "messages", "got an empty array"},
          {R"({"messages":"hi"})", bad, "messages", "got a string"},
          {R"({"messages":[1]})", bad, "messages[0]", "got 1"},
          {R"({"messages":[{"content":"x"}]})", bad, "messages[0].role", "required"},
          {R"({"messages":[{"role":"bot","content":"x"}]})", bad, "messages[0].role",
           "got \"bot\""},
          {R"({"messages":[{"role":"user"}]})", bad, "messages[0].content", "required"},
          {R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":{}}]})", bad,
           "messages[1].content", "got an object"},
          {R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},
              {"type":"image_url","image_url":{"url":"x"}}]}]})",
           unimpl, "messages[0].content[1].type", "\"image_url\" is not implemented"},
          {R"({"messages":[{"role":"user","content":[{"text":"a"}]}]})", bad,
           "messages[0].content[0].type", "required"},
          {R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", bad,
           "messages[0].content[0].text", "required"},
          {R"({"messages":[{"role":"user","content":["a"]}]})", bad, "messages[0].content[0]",
           "got a string"},
          {R"({"messages":[{"role":"assistant","tool_calls":[{"id":"1"}]}]})", bad,
           "messages[0].tool_calls[0].function", "expected {\"name\", \"arguments\"}"},
          {R"({"messages":[{"role":"user","content":"a","tool_calls":[{"id":"1"}]}]})", bad,
           "messages[0].tool_calls", "only an assistant message"},
          {R"({"messages":[{"role":"assistant","function_call":{"name":"f"}}]})", unimpl,
           "messages[0].function_call", "function_call"},
          {R"({"model":3,"messages":[{"role":"user","content":"a"}]})", bad, "model",
           "expected a string, got 3"},
      },
      false);
  auto with = [](const char* extra) {
    return std::string(R"({"messages":[{"role":"user","content":"a"}],)") + extra + "}";
  };
  std::vector<std::string> bodies = {
      with(R"("max_tokens":0)"),
      with(R"("max_tokens":1048577)"),
      with(R"("max_tokens":1.5)"),
      with(R"("max_completion_tokens":"5")"),
      with(R"("temperature":2.5)"),
      with(R"("temperature":-0.1)"),
      with(R"("temperature":"hot")"),
      with(R"("top_p":0)"),
      with(R"("top_p":1.01)"),
      with(R"("top_k":-2)"),
      with(R"("repetition_penalty":0)"),
      with(R"("seed":1.5)"),
      with(R"("seed":true)"),
      with(R"("stop":["a","b","c","d","e"])"),
      with(R"("stop":5)"),
      with(R"("stop":["a",2])"),
      with(R"("n":0)"),
      with(R"("n":129)"),
      with(R"("stream":"yes")"),
      with(R"("top_logprobs":2)"),  // without logprobs true
      with(R"("tools":[{"type":"function"}])"),
      with(R"("tool_choice":"required")"),
      with(R"("tools":{})"),
      with(R"("functions":[{"name":"f"}])"),
      with(R"("response_format":{"type":"json_object","x":1,"type":5})"),
      with(R"("response_format":{"type":"json_schema","json_schema":{}})"),
      with(R"("response_format":{"type":"yaml"})"),
      with(R"("response_format":"text")"),
      with(R"("presence_penalty":2.5)"),
      with(R"("frequency_penalty":3)"),
      with(R"("logit_bias":{"50256":-101})"),
      with(R"("stream_options":{"include_usage":true})"),  // without stream
      with(R"("stream":true,"stream_options":5)"),
      with(R"("stream":true,"stream_options":{"include_usage":1})"),
  };
  expect_refusals(
      {
          {bodies[0].c_str(), bad, "max_tokens", "expected an integer in [1, 1048576], got 0"},
          {bodies[1].c_str(), bad, "max_tokens", "got 1048577"},
          {bodies[2].c_str(), bad, "max_tokens", "got 1.5"},
          {bodies[3].c_str(), bad, "max_completion_tokens", "got a string"},
          {bodies[4].c_str(), bad, "temperature", "expected a number in [0, 2], got 2.5"},
          {bodies[5].c_str(), bad, "temperature", "got -0.1"},
          {bodies[6].c_str(), bad, "temperature", "got a string"},
          {bodies[7].c_str(), bad, "top_p", "expected a number in (0, 1], got 0"},
          {bodies[8].c_str(), bad, "top_p", "got 1.01"},
          {bodies[9].c_str(), bad, "top_k", "got -2"},
          {bodies[10].c_str(), bad, "repetition_penalty", "expected a number > 0, got 0"},
          {bodies[11].c_str(), bad, "seed", "got 1.5"},
          {bodies[12].c_str(), bad, "seed", "got true"},
          {bodies[13].c_str(), bad, "stop", "at most 4 strings, got an array"},
          {bodies[14].c_str(), bad, "stop", "got 5"},
          {bodies[15].c_str(), bad, "stop[1]", "expected a string, got 2"},
          {bodies[16].c_str(), bad, "n", "got 0"},
          {bodies[17].c_str(), bad, "n", "expected an integer in [1, 128], got 129"},
          {bodies[18].c_str(), bad, "stream", "expected true or false"},
          {bodies[19].c_str(), bad, "top_logprobs", "needs \"logprobs\": true"},
          {bodies[20].c_str(), bad, "tools[0].function", "expected an object"},
          {bodies[21].c_str(), bad, "tool_choice", "needs tools"},
          {bodies[22].c_str(), bad, "tools", "expected an array"},
          {bodies[23].c_str(), unimpl, "functions", "tool calling"},
          {bodies[24].c_str(), bad, "response_format.type", "got 5"},
          {bodies[25].c_str(), bad, "response_format.json_schema.name", "is required"},
          {bodies[26].c_str(), bad, "response_format.type", "got a string"},
          {bodies[27].c_str(), bad, "response_format", "got a string"},
          {bodies[28].c_str(), bad, "presence_penalty", "expected a number in [-2, 2], got 2.5"},
          {bodies[29].c_str(), bad, "frequency_penalty", "got 3"},
          {bodies[30].c_str(), bad, "logit_bias.50256", "expected a number in [-100, 100]"},
          {bodies[31].c_str(), bad, "stream_options", "only allowed when stream is true"},
          {bodies[32].c_str(), bad, "stream_options", "expected an object, got 5"},
          {bodies[33].c_str(), bad, "stream_options.include_usage", "expected true or false"},
      },
      false);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Bodies recorded from the `openai` Python client by data/openai_requests/record.py.
TEST(OpenaiChatRequest, RealClientBodiesParse) {
  std::filesystem::path dir =
      std::filesystem::path(KAITO_SOURCE_DIR) / "tests/protocol/data/openai_requests";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    ++n;
    auto r = parse_openai_chat_request(read_file(e.path()));
    ASSERT_TRUE(r.ok()) << e.path() << ": " << r.error().to_string();
    EXPECT_FALSE(r->messages.empty()) << e.path();
  }
  EXPECT_GE(n, 9);
  auto all = parse_openai_chat_request(read_file(dir / "all_params.json"));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->model, "phi-3-mini-128k-instruct");
  EXPECT_EQ(all->messages.size(), 4u);
  EXPECT_EQ(all->params.max_tokens, 64);
  EXPECT_EQ(all->params.temperature, 0.0);
  EXPECT_EQ(all->params.top_p, 0.9);
  EXPECT_EQ(all->params.top_k, 40);
  EXPECT_DOUBLE_EQ(all->params.repetition_penalty, 1.1);
  EXPECT_EQ(all->params.seed, 1234u);
  EXPECT_EQ(all->params.stop, (std::vector<std::string>{"\n\n", "END"}));
  auto stream = parse_openai_chat_request(read_file(dir / "stream.json"));
  ASSERT_TRUE(stream.ok());
  EXPECT_TRUE(stream->stream);
  EXPECT_TRUE(stream->include_usage);  // the openai client's stream_options
  auto parts = parse_openai_chat_request(read_file(dir / "content_parts.json"));
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->messages[0]["role"], "system");
  EXPECT_EQ(parts->messages[1]["content"], "Part one.\nPart two.");
  auto uni = parse_openai_chat_request(read_file(dir / "unicode.json"));
  ASSERT_TRUE(uni.ok());
  EXPECT_EQ(uni->messages[0]["content"], "Grüße, 世界 🌍 \"q\" \\ \t");
}

TEST(LegacyChatRequest, PromptWithKaitoDefaults) {
  auto r = parse_legacy_chat_request(R"({"prompt":"Tell me about Kaito"})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->prompt, "Tell me about Kaito");
  EXPECT_TRUE(r->messages.is_array());
  EXPECT_TRUE(r->messages.empty());
  EXPECT_EQ(r->params.max_tokens, 200);  // HF max_length: prompt + new tokens
  EXPECT_EQ(r->params.temperature, 1.0);
  EXPECT_EQ(r->params.top_k, 10);
  EXPECT_EQ(r->params.top_p, 1.0);
  EXPECT_EQ(r->params.repetition_penalty, 1.0);
  EXPECT_FALSE(r->params.has_seed);
  EXPECT_FALSE(r->stream);
}

TEST(LegacyChatRequest, GenerateKwargsAndMessages) {
  // Kaito's documented example body, plus keys we ignore.
  auto r = parse_legacy_chat_request(R"({"prompt":"Tell me about Kaito","return_full_text":false,
      "clean_up_tokenization_spaces":false,"prefix":null,"handle_long_generation":null,
      "generate_kwargs":{"max_length":512,"min_length":0,"do_sample":true,"early_stopping":false,
        "num_beams":1,"temperature":0.7,"top_k":50,"top_p":0.95,"typical_p":1,
        "repetition_penalty":1.2,"pad_token_id":0,"eos_token_id":32000}})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->params.max_tokens, 512);
  EXPECT_EQ(r->params.temperature, 0.7);
  EXPECT_EQ(r->params.top_k, 50);
  EXPECT_EQ(r->params.top_p, 0.95);
  EXPECT_DOUBLE_EQ(r->params.repetition_penalty, 1.2);
  EXPECT_EQ(r->params.max_length, 512);
  EXPECT_TRUE(r->params.ignore_eos);  // eos_token_id replaces the model's end tokens
  EXPECT_EQ(r->params.stop_token_ids, std::vector<int32_t>{32000});
  // max_new_tokens wins over max_length; min_length and min_new_tokens
  auto news = parse_legacy_chat_request(
      R"({"prompt":"x","generate_kwargs":{"max_length":50,"max_new_tokens":7,"min_length":9,
          "min_new_tokens":2,"eos_token_id":[2,32007]}})");
  ASSERT_TRUE(news.ok()) << news.error().to_string();
  EXPECT_EQ(news->params.max_tokens, 7);
  EXPECT_EQ(news->params.max_length, 0);
  EXPECT_EQ(news->params.min_length, 9);
  EXPECT_EQ(news->params.min_tokens, 2);
  EXPECT_EQ(news->params.stop_token_ids, (std::vector<int32_t>{2, 32007}));

  auto greedy = parse_legacy_chat_request(
      R"({"prompt":"x","generate_kwargs":{"do_sample":false,"temperature":0.9,"top_k":0}})");
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(greedy->params.temperature, 0.0);
  EXPECT_EQ(greedy->params.top_k, 0);

  auto conv = parse_legacy_chat_request(R"({"messages":[{"role":"system","content":"s"},
      {"role":"user","content":"u"}],"generate_kwargs":null})");
  ASSERT_TRUE(conv.ok()) << conv.error().to_string();
  EXPECT_EQ(conv->prompt, "");
  ASSERT_EQ(conv->messages.size(), 2u);
  EXPECT_EQ(conv->messages[1]["content"], "u");

  auto both = parse_legacy_chat_request(R"({"prompt":"p","messages":"ignored"})");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->prompt, "p");
  EXPECT_TRUE(both->messages.empty());
}

TEST(LegacyChatRequest, KaitoTextsAndRefusals) {
  const auto bad = status_code::invalid_argument;
  const auto unimpl = status_code::unimplemented;
  const char* prompt_required = "Text generation parameter prompt required";
  const char* messages_required = "Conversational parameter messages required";
  expect_refusals(
      {
          {"{}", bad, "", prompt_required},
          {R"({"prompt":""})", bad, "", prompt_required},
          {R"({"prompt":null,"generate_kwargs":{}})", bad, "", prompt_required},
          {R"({"messages":[]})", bad, "", messages_required},
          {R"({"prompt":"","messages":[]})", bad, "", messages_required},
          {R"({"prompt":5})", bad, "prompt", "expected a string, got 5"},
          {R"({"messages":[{"role":"user"}]})", bad, "messages[0].content", "required"},
          {R"({"messages":{}})", bad, "messages", "got an object"},
          {"{\"prompt\":\"a\xc3\"}", bad, "byte 13", "UTF-8"},
          {"[1]", bad, "", "a JSON object"},
          {R"({"prompt":"a","generate_kwargs":[]})", bad, "generate_kwargs", "an object"},
          {R"({"prompt":"a","generate_kwargs":{"max_length":0}})", bad,
           "generate_kwargs.max_length", "got 0"},
          {R"({"prompt":"a","generate_kwargs":{"do_sample":"no"}})", bad,
           "generate_kwargs.do_sample", "true or false"},
          {R"({"prompt":"a","generate_kwargs":{"temperature":-1}})", bad,
           "generate_kwargs.temperature", "a number >= 0, got -1"},
          {R"({"prompt":"a","generate_kwargs":{"top_k":-1}})", bad, "generate_kwargs.top_k",
           "got -1"},
          {R"({"prompt":"a","generate_kwargs":{"top_p":0}})", bad, "generate_kwargs.top_p",
           "got 0"},
          {R"({"prompt":"a","generate_kwargs":{"repetition_penalty":-1}})", bad,
           "generate_kwargs.repetition_penalty", "got -1"},
          {R"({"prompt":"a","generate_kwargs":{"max_new_tokens":0}})", bad,
           "generate_kwargs.max_new_tokens", "got 0"},
          {R"({"prompt":"a","generate_kwargs":{"typical_p":0.9}})", unimpl,
           "generate_kwargs.typical_p", "not implemented"},
          {R"({"prompt":"a","generate_kwargs":{"no_repeat_ngram_size":3}})", unimpl,
           "generate_kwargs.no_repeat_ngram_size", "not implemented"},
          {R"({"prompt":"a","generate_kwargs":{"bad_words_ids":[[5]]}})", unimpl,
           "generate_kwargs.bad_words_ids", "not implemented"},
          {R"({"prompt":"a","generate_kwargs":{"eos_token_id":"x"}})", bad,
           "generate_kwargs.eos_token_id", "a token id"},
          {R"({"prompt":"a","generate_kwargs":{"num_beams":4}})", unimpl,
           "generate_kwargs.num_beams", "not implemented"},
          {R"({"prompt":"a","generate_kwargs":{"num_return_sequences":2}})", unimpl,
           "generate_kwargs.num_return_sequences", "not implemented"},
      },
      true);
  auto r = parse_legacy_chat_request("{}");
  EXPECT_EQ(legacy_error_body(r.error()),
            R"({"detail":"Text generation parameter prompt required"})");
}

TEST(OpenaiCompletionRequest, PromptDefaultsAndRefusals) {
  auto r = parse_openai_completion_request(R"({"model":"m","prompt":"Once upon"})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->prompt, "Once upon");
  EXPECT_TRUE(r->messages.empty());
  EXPECT_EQ(r->params.max_tokens, 16);  // OpenAI's completions default
  EXPECT_FALSE(r->echo);
  auto all = parse_openai_completion_request(
      R"({"prompt":["Once"],"max_tokens":5,"echo":true,"temperature":0,"stop":"\n","seed":3,
          "stream":true,"stream_options":{"include_usage":true},"logprobs":null,"suffix":null,
          "best_of":1,"n":1,"user":"u"})");
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  EXPECT_EQ(all->prompt, "Once");
  EXPECT_EQ(all->params.max_tokens, 5);
  EXPECT_TRUE(all->echo && all->stream && all->include_usage && all->params.has_seed);
  EXPECT_EQ(all->params.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(all->n, 1);
  auto three = parse_openai_completion_request(R"({"prompt":"a","n":3,"best_of":3})");
  ASSERT_TRUE(three.ok()) << three.error().to_string();
  EXPECT_EQ(three->n, 3);

  const auto bad = status_code::invalid_argument;
  const auto unimpl = status_code::unimplemented;
  struct row {
    const char* body;
    status_code code;
    const char* where;
  };
  for (const row& k : std::vector<row>{
           {R"({})", bad, "prompt"},
           {R"({"prompt":""})", bad, "prompt"},
           {R"({"prompt":5})", bad, "prompt"},
           {R"({"prompt":["a","b"]})", unimpl, "prompt"},
           {R"({"prompt":[1,2,3]})", unimpl, "prompt"},
           {R"({"prompt":"a","suffix":"z"})", unimpl, "suffix"},
           {R"({"prompt":"a","best_of":2})", unimpl, "best_of"},
           {R"({"prompt":"a","n":3,"best_of":4})", unimpl, "best_of"},
           {R"({"prompt":"a","n":3,"best_of":2})", bad, "best_of"},
           {R"({"prompt":"a","n":0})", bad, "n"},
           {R"({"prompt":"a","max_tokens":0,"logprobs":2})", bad, "max_tokens"},  // no echo
           {R"({"prompt":"a","logprobs":6})", bad, "logprobs"},
           {R"({"prompt":"a","logprobs":true})", bad, "logprobs"},
           {R"({"prompt":"a","echo":"yes"})", bad, "echo"},
           {R"({"prompt":"a","max_tokens":0})", bad, "max_tokens"},
           {R"({"prompt":"a","stream_options":{"include_usage":true}})", bad, "stream_options"},
       }) {
    auto x = parse_openai_completion_request(k.body);
    ASSERT_FALSE(x.ok()) << k.body;
    EXPECT_EQ(x.error().code(), k.code) << k.body << " -> " << x.error().to_string();
    EXPECT_EQ(x.error().where(), k.where) << k.body << " -> " << x.error().to_string();
  }
}

ojson parse_back(const std::string& text) {
  EXPECT_TRUE(ojson::accept(text)) << text;
  return ojson::parse(text, nullptr, false);
}

TEST(ChatResponse, OpenaiCompletion) {
  chat_result res{"Kubernetes is ...", 12, 30, "length"};
  ojson j = parse_back(openai_chat_response(res, "phi-3", "abc", 1700000000));
  EXPECT_EQ(j["id"], "chatcmpl-abc");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "phi-3");
  ASSERT_EQ(j["choices"].size(), 1u);
  const ojson& c = j["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"], ojson::parse(R"({"role":"assistant","content":"Kubernetes is ..."})"));
  EXPECT_EQ(c["finish_reason"], "length");
  EXPECT_TRUE(c["logprobs"].is_null());
  EXPECT_EQ(j["usage"], ojson::parse(R"({"prompt_tokens":12,"completion_tokens":30,
                                          "total_tokens":42})"));
  std::vector<std::string> keys;
  for (const auto& kv : j.items()) keys.push_back(kv.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"id", "object", "created", "model", "choices", "usage"}));
}

// response_format: "text" (the default) and "json_object" (params.json_object: the engine keeps
// the answer one JSON object), for chat and completions.
TEST(ChatRequest, ResponseFormatJsonObject) {
  auto chat = parse_openai_chat_request(
      R"({"messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"}})");
  ASSERT_TRUE(chat.ok()) << chat.error().to_string();
  EXPECT_TRUE(chat->params.json_object);
  auto text = parse_openai_chat_request(
      R"({"messages":[{"role":"user","content":"a"}],"response_format":{"type":"text"}})");
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->params.json_object);
  auto completion =
      parse_openai_completion_request(R"({"prompt":"a","response_format":{"type":"json_object"}})");
  ASSERT_TRUE(completion.ok()) << completion.error().to_string();
  EXPECT_TRUE(completion->params.json_object);
}

// response_format json_schema (chat: nested under "json_schema"; Responses: beside "type"), vLLM's
// guided_json and structured_outputs: the schema's text and its path reach the params; one
// format at a time; what is malformed is refused naming the field.
TEST(ChatRequest, ResponseFormatJsonSchema) {
  const std::string base = R"({"messages":[{"role":"user","content":"a"}],)";
  auto chat = parse_openai_chat_request(
      base + R"("response_format":{"type":"json_schema","json_schema":{"name":"person",
               "strict":true,"description":"d","schema":{"type":"object","required":["é"]}}}})");
  ASSERT_TRUE(chat.ok()) << chat.error().to_string();
  EXPECT_FALSE(chat->params.json_object);
  EXPECT_EQ(chat->params.json_schema, R"({"type":"object","required":["é"]})");
  EXPECT_EQ(chat->params.json_schema_where, "response_format.json_schema.schema");
  auto completion = parse_openai_completion_request(
      R"({"prompt":"a","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":true}}})");
  ASSERT_TRUE(completion.ok()) << completion.error().to_string();
  EXPECT_EQ(completion->params.json_schema, "true");
  auto guided = parse_openai_chat_request(base + R"("guided_json":"{\"enum\":[1]}"})");
  ASSERT_TRUE(guided.ok()) << guided.error().to_string();
  EXPECT_EQ(guided->params.json_schema, R"({"enum":[1]})");
  EXPECT_EQ(guided->params.json_schema_where, "guided_json");
  auto so = parse_openai_chat_request(
      base + R"("structured_outputs":{"json":{"type":"string"},"disable_fallback":true}})");
  ASSERT_TRUE(so.ok()) << so.error().to_string();
  EXPECT_EQ(so->params.json_schema, R"({"type":"string"})");
  EXPECT_EQ(so->params.json_schema_where, "structured_outputs.json");
  auto so_object =
      parse_openai_chat_request(base + R"("structured_outputs":{"json_object":true}})");
  ASSERT_TRUE(so_object.ok()) << so_object.error().to_string();
  EXPECT_TRUE(so_object->params.json_object);
  EXPECT_FALSE(so_object->params.json_compact);
  auto compact = parse_openai_chat_request(
      base + R"("structured_outputs":{"json":{},"disable_any_whitespace":true}})");
  ASSERT_TRUE(compact.ok()) << compact.error().to_string();
  EXPECT_TRUE(compact->params.json_compact);
  auto responses = parse_responses_request(
      R"({"input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"integer"}}}})");
  ASSERT_TRUE(responses.ok()) << responses.error().to_string();
  EXPECT_EQ(responses->params.json_schema, R"({"type":"integer"})");
  EXPECT_EQ(responses->params.json_schema_where, "text.format.schema");
  const auto bad = status_code::invalid_argument;
  struct refusal {
    std::string body;
    status_code code;
    const char* where;
  };
  for (const refusal& r : std::vector<refusal>{
           {R"("response_format":{"type":"json_schema"}})", bad, "response_format.json_schema"},
           {R"("response_format":{"type":"json_schema","json_schema":{"name":""}}})", bad,
            "response_format.json_schema.name"},
           {R"("response_format":{"type":"json_schema","json_schema":{"name":"n"}}})", bad,
            "response_format.json_schema.schema"},
           {R"("response_format":{"type":"json_schema","json_schema":{"name":"n","schema":[1]}}})",
            bad, "response_format.json_schema.schema"},
           {R"("response_format":{"type":"json_schema","json_schema":{"name":"n","strict":1,
               "schema":{}}}})",
            bad, "response_format.json_schema.strict"},
           {R"("guided_json":"{x"})", bad, "guided_json"},
           {R"("guided_json":5})", bad, "guided_json"},
           {R"("response_format":{"type":"json_object"},"guided_json":{}})", bad, "guided_json"},
           {R"("guided_json":{},"structured_outputs":{"json":{}}})", bad, "structured_outputs"},
           {R"("structured_outputs":{"choice":["a"]}})", status_code::unimplemented,
            "structured_outputs.choice"},
           {R"("structured_outputs":[1]})", bad, "structured_outputs"},
       }) {
    auto x = parse_openai_chat_request(base + r.body);
    ASSERT_FALSE(x.ok()) << r.body;
    EXPECT_EQ(x.error().code(), r.code) << r.body << " -> " << x.error().to_string();
    EXPECT_EQ(x.error().where(), r.where) << r.body << " -> " << x.error().to_string();
  }
  // a text format alone is no format: it may come with guided_json
  auto both = parse_openai_chat_request(
      base + R"("response_format":{"type":"text"},"guided_json":{"type":"null"}})");
  ASSERT_TRUE(both.ok()) << both.error().to_string();
  EXPECT_EQ(both->params.json_schema, R"({"type":"null"})");
}

// Chat's tools: a forced call (named or "required") becomes the schema the answer holds to, the
// tools reach the template, and the answer becomes tool_calls; what is malformed names its field.
TEST(ChatRequest, ToolsForceACall) {
  const std::string base = R"({"messages":[{"role":"user","content":"a"}],)";
  const std::string tools = R"("tools":[
      {"type":"function","function":{"name":"get_weather","description":"d","strict":true,
       "parameters":{"type":"object","properties":{"city":{"$ref":"#/$defs/city"}},
       "required":["city"],"$defs":{"city":{"type":"string"}}}}},
      {"type":"function","function":{"name":"now"}}],)";
  auto named = parse_openai_chat_request(
      base + tools + R"("tool_choice":{"type":"function","function":{"name":"get_weather"}}})");
  ASSERT_TRUE(named.ok()) << named.error().to_string();
  EXPECT_EQ(named->params.tool_call, "named");
  EXPECT_EQ(named->params.tool_name, "get_weather");
  EXPECT_EQ(named->params.json_schema_where, "tools[0].function.parameters");
  EXPECT_NE(named->params.json_schema.find("\"$defs\""), std::string::npos);
  ASSERT_EQ(named->tools.size(), 2u);
  ASSERT_EQ(named->params.tool_schemas.size(), 1u);  // (now has no parameters)
  EXPECT_EQ(named->params.tool_schemas[0].second, "tools[0].function.parameters");
  auto required = parse_openai_chat_request(
      base + tools + R"("tool_choice":"required","parallel_tool_calls":false})");
  ASSERT_TRUE(required.ok()) << required.error().to_string();
  EXPECT_EQ(required->params.tool_call, "required");
  const ojson schema = ojson::parse(required->params.json_schema);
  EXPECT_EQ(schema["maxItems"], 1);
  EXPECT_EQ(schema["$defs"]["city"]["type"], "string");  // lifted to where "#/$defs/city" points
  EXPECT_EQ(schema["items"]["anyOf"][1]["properties"]["name"]["enum"][0], "now");
  EXPECT_FALSE(schema["items"]["anyOf"][0]["properties"]["parameters"].contains("$defs"));
  auto none = parse_openai_chat_request(base + tools + R"("tool_choice":"none"})");
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_TRUE(none->params.tool_call.empty() && none->params.json_schema.empty());
  EXPECT_EQ(none->tools.size(), 2u);  // (the template still sees them, as vLLM's)
  // "auto" (also the default with tools): the model chooses; a format may come beside it
  for (const std::string choice : {R"("tool_choice":"auto"})", R"("n":1})"}) {
    auto a = parse_openai_chat_request(base + tools + choice);
    ASSERT_TRUE(a.ok()) << a.error().to_string();
    EXPECT_EQ(a->params.tool_call, "auto");
    EXPECT_TRUE(a->params.json_schema.empty());
    EXPECT_EQ(a->tools.size(), 2u);
  }
  auto auto_json = parse_openai_chat_request(
      base + tools + R"("tool_choice":"auto","response_format":{"type":"json_object"}})");
  ASSERT_TRUE(auto_json.ok()) << auto_json.error().to_string();
  EXPECT_TRUE(auto_json->params.json_object);
  auto no_tools = parse_openai_chat_request(base + R"("tool_choice":"auto"})");
  ASSERT_TRUE(no_tools.ok());
  EXPECT_TRUE(no_tools->params.tool_call.empty());
  const auto bad = status_code::invalid_argument, unimpl = status_code::unimplemented;
  struct refusal {
    std::string body;
    status_code code;
    const char* where;
  };
  for (const refusal& r : std::vector<refusal>{
           {tools + R"("tool_choice":{"type":"function","function":{"name":"x"}}})", bad,
            "tool_choice.function.name"},
           {tools + R"("tool_choice":"sometimes"})", bad, "tool_choice"},
           {tools + R"("tool_choice":"required","response_format":{"type":"json_object"}})", bad,
            "response_format"},
           {R"("tools":[{"type":"function","function":{"name":"a b"}}],"tool_choice":"required"})",
            bad, "tools[0].function.name"},
           {R"("tools":[{"type":"function","function":{"name":"f"}},{"type":"function",
               "function":{"name":"f"}}],"tool_choice":"required"})",
            bad, "tools[1].function.name"},
           {R"("tools":[{"type":"custom","custom":{"name":"f"}}],"tool_choice":"required"})",
            unimpl, "tools[0].type"},
           {R"("tools":[{"type":"function","function":{"name":"f","parameters":[1]}}],
               "tool_choice":"required"})",
            bad, "tools[0].function.parameters"},
           {R"("tools":[{"type":"function","function":{"name":"f","parameters":{"$defs":{"a":{}}}}},
               {"type":"function","function":{"name":"g","parameters":{"$defs":{"a":{"type":"null"}}}}}],
               "tool_choice":"required"})",
            bad, "tools[1].function.parameters.$defs.a"},
           {R"("tools":[],"tool_choice":"required"})", bad, "tool_choice"},
       }) {
    auto x = parse_openai_chat_request(base + r.body);
    ASSERT_FALSE(x.ok()) << r.body;
    EXPECT_EQ(x.error().code(), r.code) << r.body << " -> " << x.error().to_string();
    EXPECT_EQ(x.error().where(), r.where) << r.body << " -> " << x.error().to_string();
  }
  // the answer as calls
  std::vector<tool_call> calls;
  EXPECT_TRUE(tool_calls_of(named->params, R"({"city": "Oslo"})", calls));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, R"({"city": "Oslo"})");
  EXPECT_TRUE(tool_calls_of(required->params,
                            R"([{"name": "now", "parameters": {}}, {"name": "get_weather",
                                "parameters": {"city": "Oslo"}}])",
                            calls));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].arguments, R"({"city":"Oslo"})");
  EXPECT_FALSE(tool_calls_of(required->params, R"([{"name": "now", "param)", calls));
  chat_result res{"", 5, 7, "stop"};
  res.tool_calls = {{"chatcmpl-tool-1", "now", "{}"}};
  const ojson body = ojson::parse(openai_chat_response(res, "m", "x", 1));
  const ojson& message = body["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  res.text = "Let me look.";  // (an "auto" answer's content before its calls)
  EXPECT_EQ(
      ojson::parse(openai_chat_response(res, "m", "x", 1))["choices"][0]["message"]["content"],
      "Let me look.");
  EXPECT_EQ(message["tool_calls"][0]["id"], "chatcmpl-tool-1");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "now");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], "{}");
  const std::string first = openai_tool_call_chunk("x", "m", 1, {"c1", "now", ""}, 0, false, 2);
  const ojson first_j = ojson::parse(first.substr(6, first.size() - 8));
  EXPECT_EQ(first_j["choices"][0]["index"], 2);
  EXPECT_EQ(first_j["choices"][0]["delta"]["tool_calls"][0]["id"], "c1");
  EXPECT_EQ(first_j["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "now");
  const std::string piece = openai_tool_call_chunk("x", "m", 1, {"", "", "{\"a"}, 0, true, 0);
  const ojson piece_j = ojson::parse(piece.substr(6, piece.size() - 8));
  EXPECT_FALSE(piece_j["choices"][0]["delta"]["tool_calls"][0].contains("id"));
  EXPECT_EQ(piece_j["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"], "{\"a");
  EXPECT_TRUE(piece_j["usage"].is_null());
  // a conversation that called tools: the calls (arguments as JSON) and the result reach the
  // template
  auto history = parse_openai_chat_request(R"({"messages":[{"role":"user","content":"a"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
       "function":{"name":"now","arguments":"{\"tz\": \"UTC\"}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"12:00"}]})");
  ASSERT_TRUE(history.ok()) << history.error().to_string();
  EXPECT_EQ(history->messages[1]["content"], "");
  EXPECT_EQ(history->messages[1]["tool_calls"][0]["function"]["arguments"]["tz"], "UTC");
  EXPECT_EQ(history->messages[2]["tool_call_id"], "c1");
}

// vLLM's extras we do not implement: refused naming them unless at their default; min_p taken.
TEST(ChatRequest, VllmExtrasChangingTheAnswerAreRefused) {
  const std::string base = R"({"messages":[{"role":"user","content":"a"}],)";
  auto ok = parse_openai_chat_request(
      base + R"("min_p":0.05,"use_beam_search":false,"skip_special_tokens":true,"bad_words":[],
               "guided_json":null,"add_generation_prompt":true,"chat_template_kwargs":{}})");
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_DOUBLE_EQ(ok->params.min_p, 0.05);
  for (const char* key :
       {R"("use_beam_search":true)", R"("include_stop_str_in_output":true)",
        R"("skip_special_tokens":false)", R"("prompt_logprobs":1)", R"("allowed_token_ids":[1])",
        R"("bad_words":["x"])", R"("guided_regex":"a+")", R"("guided_choice":["a","b"])",
        R"("truncate_prompt_tokens":5)", R"("echo":true)", R"("add_generation_prompt":false)",
        R"("continue_final_message":true)", R"("chat_template":"{{ x }}")",
        R"("chat_template_kwargs":{"a":1})"}) {
    auto r = parse_openai_chat_request(base + key + "}");
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.error().code(), status_code::unimplemented) << key;
    const std::string name = std::string(key).substr(1, std::string(key).find('"', 1) - 1);
    EXPECT_EQ(r.error().where(), name) << key;
  }
  auto bad = parse_openai_chat_request(base + R"("min_p":1.5})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "min_p");
  // completions: its own echo; the rest as for chat
  EXPECT_TRUE(parse_openai_completion_request(R"({"prompt":"a","echo":true,"min_p":0.1})").ok());
  EXPECT_EQ(parse_openai_completion_request(R"({"prompt":"a","guided_regex":"a"})").error().where(),
            "guided_regex");
}

// /v1/responses: input (a string or message items with text parts) and instructions become the
// chat; refusals name their field; the response object and the stream's events.
TEST(ResponsesApi, RequestsResponsesAndEvents) {
  auto r = parse_responses_request(
      R"({"model":"m","instructions":"Be brief.","input":[{"type":"message","role":"developer",
          "content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
          {"role":"assistant","content":"c"},{"role":"user","content":"d"}],
          "max_output_tokens":7,"temperature":0.5,"top_p":0.9,"stream":true,"store":false,
          "text":{"format":{"type":"json_object"}},"tools":[],"reasoning":{"effort":"low"}})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->messages, ojson::parse(R"([{"role":"system","content":"Be brief."},
      {"role":"system","content":"a\nb"},{"role":"assistant","content":"c"},
      {"role":"user","content":"d"}])"));
  EXPECT_EQ(r->params.max_tokens, 7);
  EXPECT_TRUE(r->stream && r->params.json_object);
  auto plain = parse_responses_request(R"({"input":"hi"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->messages, ojson::parse(R"([{"role":"user","content":"hi"}])"));
  EXPECT_EQ(plain->params.max_tokens, int64_t(1) << 20);
  const auto bad = status_code::invalid_argument;
  const auto unimpl = status_code::unimplemented;
  struct row {
    const char* body;
    status_code code;
    const char* where;
  };
  for (const row& k : std::vector<row>{
           {R"({})", bad, "input"},
           {R"({"input":[]})", bad, "input"},
           {R"({"input":5})", bad, "input"},
           {R"({"input":[{"type":"reasoning","summary":[]}]})", unimpl, "input[0].type"},
           {R"({"input":[{"type":"function_call_output","output":"x"}]})", bad, "input[0].call_id"},
           {R"({"input":[{"type":"function_call","call_id":"c","name":"f"}]})", bad,
            "input[0].arguments"},
           {R"({"input":[{"type":"function_call_output","call_id":"c","output":[{"type":"x"}]}]})",
            unimpl, "input[0].output[0].type"},
           {R"({"input":[{"role":"user","content":[{"type":"input_image","image_url":"u"}]}]})",
            unimpl, "input[0].content[0].type"},
           {R"({"input":[{"role":"robot","content":"x"}]})", bad, "input[0].role"},
           {R"({"input":"x","previous_response_id":"resp_1"})", unimpl, "previous_response_id"},
           {R"({"input":"x","tools":[{"type":"web_search"}]})", unimpl, "tools[0].type"},
           {R"({"input":"x","tools":[{"type":"function","name":"a b"}]})", bad, "tools[0].name"},
           {R"({"input":"x","tools":[{"type":"function","name":"f"}],
               "tool_choice":{"type":"function","name":"g"}})",
            bad, "tool_choice.name"},
           {R"({"input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":"required",
               "text":{"format":{"type":"json_object"}}})",
            bad, "text.format"},
           {R"({"input":"x","background":true})", unimpl, "background"},
           {R"({"input":"x","text":{"format":{"type":"json_schema"}}})", bad, "text.format.name"},
           {R"({"input":"x","text":{"format":{"type":"json_schema","name":"n"}}})", bad,
            "text.format.schema"},
           {R"({"input":"x","max_output_tokens":0})", bad, "max_output_tokens"},
           {R"({"input":"x","temperature":3})", bad, "temperature"},
       }) {
    auto x = parse_responses_request(k.body);
    ASSERT_FALSE(x.ok()) << k.body;
    EXPECT_EQ(x.error().code(), k.code) << k.body << " -> " << x.error().to_string();
    EXPECT_EQ(x.error().where(), k.where) << k.body << " -> " << x.error().to_string();
  }
  const responses_ids ids{"r1", "m1", "tiny", 9};
  chat_result res{"Blue.", 11, 3, "stop", 8};
  ojson body = parse_back(responses_body(ids, &res));
  EXPECT_EQ(body["id"], "resp_r1");
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["output"][0]["id"], "msg_m1");
  EXPECT_EQ(body["output"][0]["content"][0],
            ojson::parse(R"({"type":"output_text","text":"Blue.","annotations":[]})"));
  EXPECT_EQ(body["usage"]["input_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(body["usage"]["total_tokens"], 14);
  res.finish_reason = "length";
  body = parse_back(responses_body(ids, &res));
  EXPECT_EQ(body["status"], "incomplete");
  EXPECT_EQ(body["incomplete_details"]["reason"], "max_output_tokens");
  responses_stream events(ids);
  std::string all = events.start();  // (in order: each event takes the next number)
  all += events.delta("Blu");
  all += events.finish(res);
  std::vector<std::string> types;
  int64_t seq = 0;
  for (size_t at = 0; (at = all.find("data: ", at)) != std::string::npos;) {
    const size_t end = all.find("\n\n", at);
    ojson e = parse_back(all.substr(at + 6, end - at - 6));
    EXPECT_EQ(e["sequence_number"], seq++);
    types.push_back(e["type"]);
    at = end;
  }
  EXPECT_EQ(types, (std::vector<std::string>{
                       "response.created", "response.in_progress", "response.output_item.added",
                       "response.content_part.added", "response.output_text.delta",
                       "response.output_text.done", "response.content_part.done",
                       "response.output_item.done", "response.incomplete"}));
  // a failure after the events began is one more numbered event
  responses_stream failing(ids);
  const std::string started = failing.start();
  const std::string error = failing.error(invalid_argument("bad", "stop_token_ids[0]"));
  ASSERT_EQ(error.rfind("event: error\ndata: ", 0), 0u) << error;
  const ojson e = parse_back(error.substr(error.find("data: ") + 6));
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["sequence_number"], 2);  // after start()'s two
  EXPECT_EQ(e["param"], "stop_token_ids[0]");
}

// vLLM's ignore_eos, min_tokens and stop_token_ids.
TEST(ChatRequest, VllmStopExtensions) {
  auto r = parse_openai_chat_request(
      R"({"messages":[{"role":"user","content":"a"}],"max_tokens":9,"ignore_eos":true,
          "min_tokens":9,"stop_token_ids":[2,32000]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->params.ignore_eos);
  EXPECT_EQ(r->params.min_tokens, 9);
  EXPECT_EQ(r->params.stop_token_ids, (std::vector<int32_t>{2, 32000}));
  const char* base = R"({"messages":[{"role":"user","content":"a"}],"max_tokens":9,)";
  for (const auto& [extra, where] : std::vector<std::pair<std::string, std::string>>{
           {R"("ignore_eos":1})", "ignore_eos"},
           {R"("min_tokens":10})", "min_tokens"},
           {R"("min_tokens":-1})", "min_tokens"},
           {R"("stop_token_ids":5})", "stop_token_ids"},
           {R"("stop_token_ids":[1,-2]})", "stop_token_ids[1]"},
           {R"("stop_token_ids":["2"]})", "stop_token_ids[0]"}}) {
    auto bad = parse_openai_chat_request(base + extra);
    ASSERT_FALSE(bad.ok()) << extra;
    EXPECT_EQ(bad.error().code(), status_code::invalid_argument) << extra;
    EXPECT_EQ(bad.error().where(), where) << extra;
  }
}

// n answers to one prompt: choices[i] has index i; usage counts the prompt once and every answer.
TEST(ChatResponse, SeveralChoices) {
  auto r = parse_openai_chat_request(R"({"messages":[{"role":"user","content":"a"}],"n":128})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->n, 128);
  EXPECT_EQ(parse_openai_chat_request(R"({"messages":[{"role":"user","content":"a"}]})")->n, 1);
  std::vector<chat_result> results = {{"one", 12, 3, "stop", 8}, {"two two", 12, 5, "length", 8}};
  ojson j = parse_back(openai_chat_response(results, "m", "x", 1));
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["choices"][1]["message"]["content"], "two two");
  EXPECT_EQ(j["choices"][1]["finish_reason"], "length");
  EXPECT_EQ(j["usage"], ojson::parse(R"({"prompt_tokens":12,"completion_tokens":8,
      "total_tokens":20,"prompt_tokens_details":{"cached_tokens":8}})"));
  // One choice computed the prompt, the other copied it: the request found none cached.
  std::vector<chat_result> forked = {{"one", 12, 3, "stop", 12}, {"two", 12, 2, "stop", 0}};
  EXPECT_EQ(parse_back(openai_chat_response(forked, "m", "x", 1))["usage"],
            ojson::parse(R"({"prompt_tokens":12,"completion_tokens":5,"total_tokens":17})"));
  ojson c = parse_back(openai_completion_response(results, "m", "x", 1));
  ASSERT_EQ(c["choices"].size(), 2u);
  EXPECT_EQ(c["choices"][1], ojson::parse(R"({"index":1,"text":"two two","logprobs":null,
      "finish_reason":"length"})"));
  EXPECT_EQ(c["usage"]["completion_tokens"], 8);
  // streamed: each chunk names its choice
  std::string piece = "p";
  std::string chunk = openai_chat_chunk("x", "m", 1, nullptr, &piece, nullptr, false, nullptr, 3);
  EXPECT_EQ(parse_back(chunk.substr(6, chunk.size() - 8))["choices"][0]["index"], 3);
  chunk = openai_completion_chunk("x", "m", 1, "p", nullptr, false, nullptr, nullptr, 2);
  EXPECT_EQ(parse_back(chunk.substr(6, chunk.size() - 8))["choices"][0]["index"], 2);
}

// logit_bias: token ids (decimal keys) with biases in [-100, 100].
TEST(ChatRequest, LogitBias) {
  auto r = parse_openai_chat_request(
      R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"7":-100,"12":2.5}})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->params.logit_bias,
            (std::vector<std::pair<int32_t, double>>{{7, -100.0}, {12, 2.5}}));
  for (const char* body :
       {R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"x":1}})",
        R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"-1":1}})",
        R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"99999999999":1}})"}) {
    auto bad = parse_openai_chat_request(body);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.error().where().rfind("logit_bias.", 0), 0u) << bad.error().to_string();
    EXPECT_NE(bad.error().message().find("token id"), std::string::npos) << body;
  }
  auto str = parse_openai_chat_request(
      R"({"messages":[{"role":"user","content":"hi"}],"logit_bias":{"3":"high"}})");
  ASSERT_FALSE(str.ok());
  EXPECT_EQ(str.error().where(), "logit_bias.3");
}

// logprobs: true with top_logprobs in [0, 20] (absent: 0) -> params.logprobs; false or absent: -1.
TEST(ChatRequest, Logprobs) {
  const std::string head = R"({"messages":[{"role":"user","content":"hi"}]})";
  auto params = [&](const std::string& extra) {
    return parse_openai_chat_request(head.substr(0, head.size() - 1) + "," + extra + "}");
  };
  EXPECT_EQ(parse_openai_chat_request(head)->params.logprobs, -1);
  EXPECT_EQ(params(R"("logprobs":false)")->params.logprobs, -1);
  EXPECT_EQ(params(R"("logprobs":true)")->params.logprobs, 0);
  EXPECT_EQ(params(R"("logprobs":true,"top_logprobs":20)")->params.logprobs, 20);
  EXPECT_EQ(params(R"("logprobs":true,"top_logprobs":null)")->params.logprobs, 0);
  EXPECT_EQ(params(R"("logprobs":null,"top_logprobs":null)")->params.logprobs, -1);
  for (const char* bad :
       {R"("logprobs":true,"top_logprobs":21)", R"("logprobs":true,"top_logprobs":-1)",
        R"("logprobs":true,"top_logprobs":"2")"}) {
    auto r = params(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().where(), "top_logprobs") << bad;
    EXPECT_NE(r.error().message().find("an integer in [0, 20]"), std::string::npos) << bad;
  }
  auto r = params(R"("logprobs":"yes")");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().where(), "logprobs");
}

// Completions: logprobs (0..5) -> params.logprobs; absent: -1. The legacy logprobs object: tokens,
// token_logprobs, top_logprobs (the top k and the chosen token), text_offset in characters, which
// a stream carries on from chunk to chunk.
TEST(ChatResponse, CompletionLogprobs) {
  EXPECT_EQ(parse_openai_completion_request(R"({"prompt":"a"})")->params.logprobs, -1);
  EXPECT_EQ(parse_openai_completion_request(R"({"prompt":"a","logprobs":0})")->params.logprobs, 0);
  EXPECT_EQ(parse_openai_completion_request(R"({"prompt":"a","logprobs":5})")->params.logprobs, 5);
  // echo: the prompt's too (prompt_logprobs), max_tokens 0 allowed (the prompt alone)
  auto echo =
      parse_openai_completion_request(R"({"prompt":"a","echo":true,"logprobs":1,"max_tokens":0})");
  ASSERT_TRUE(echo.ok()) << echo.error().to_string();
  EXPECT_EQ(echo->params.logprobs, 1);
  EXPECT_EQ(echo->params.prompt_logprobs, 1);
  EXPECT_EQ(echo->params.max_tokens, 0);
  EXPECT_EQ(
      parse_openai_completion_request(R"({"prompt":"a","logprobs":1})")->params.prompt_logprobs,
      -1);
  // the first prompt token (logprob NaN: nothing predicts it): null entries, as OpenAI's
  chat_result first_token{"ab", 2, 0, "length"};
  first_token.has_logprobs = true;
  first_token.logprobs = {{"a", std::nan(""), {}}, {"b", -2.0, {{"c", -1.0}}}};
  EXPECT_EQ(
      parse_back(openai_completion_response(first_token, "m", "x", 1))["choices"][0]["logprobs"],
      ojson::parse(R"({"tokens":["a","b"],"token_logprobs":[null,-2.0],
                "top_logprobs":[null,{"c":-1.0,"b":-2.0}],"text_offset":[0,1]})"));
  chat_result res{"\xc3\xa9t\xc3\xa9!", 3, 2, "length"};
  res.has_logprobs = true;
  res.logprobs = {{"\xc3\xa9t\xc3\xa9", -0.5, {{"ete", -0.25}}}, {"!", -1.0, {{"!", -1.0}}}};
  ojson j = parse_back(openai_completion_response(res, "m", "x", 1));
  const ojson want = ojson::parse(R"({"tokens":["\u00e9t\u00e9","!"],"token_logprobs":[-0.5,-1.0],
      "top_logprobs":[{"ete":-0.25,"\u00e9t\u00e9":-0.5},{"!":-1.0}],"text_offset":[0,3]})");
  EXPECT_EQ(j["choices"][0]["logprobs"], want);
  // streamed: the offsets go on from where the last chunk left them
  int64_t offset = 0;
  const std::vector<logprob_entry> first = {res.logprobs[0]}, second = {res.logprobs[1]};
  auto chunk = [](const std::string& s) { return parse_back(s.substr(6, s.size() - 8)); };
  ojson a = chunk(
      openai_completion_chunk("x", "m", 1, "\xc3\xa9t\xc3\xa9", nullptr, false, &first, &offset));
  ojson b = chunk(openai_completion_chunk("x", "m", 1, "!", nullptr, false, &second, &offset));
  EXPECT_EQ(a["choices"][0]["logprobs"]["text_offset"], ojson::parse("[0]"));
  EXPECT_EQ(b["choices"][0]["logprobs"]["text_offset"], ojson::parse("[3]"));
  EXPECT_EQ(offset, 4);
  EXPECT_TRUE(
      chunk(openai_completion_chunk("x", "m", 1, "", nullptr))["choices"][0]["logprobs"].is_null());
}

// With logprobs: choices[0].logprobs = {"content":[{token, logprob, bytes, top_logprobs}]}; a
// token that is not UTF-8 keeps its bytes; a logprob that is not finite is -9999.0.
TEST(ChatResponse, Logprobs) {
  chat_result res{"Hi\xe2", 3, 2, "stop"};
  res.has_logprobs = true;
  res.logprobs = {{"Hi", -0.25, {{"Hi", -0.25}, {"Hello", -1.5}}},
                  {"\xe2", -std::numeric_limits<double>::infinity(), {}}};
  ojson j = parse_back(openai_chat_response(res, "m", "x", 1));
  const ojson want = ojson::parse(R"({"content":[
      {"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[
          {"token":"Hi","logprob":-0.25,"bytes":[72,105]},
          {"token":"Hello","logprob":-1.5,"bytes":[72,101,108,108,111]}]},
      {"token":"\ufffd","logprob":-9999.0,"bytes":[226],"top_logprobs":[]}]})");
  EXPECT_EQ(j["choices"][0]["logprobs"], want);
  // a stream chunk carries the entries it is given
  const std::string piece = "Hi";
  const std::vector<logprob_entry> one = {res.logprobs[0]};
  const std::string s = openai_chat_chunk("x", "m", 1, nullptr, &piece, nullptr, false, &one);
  ojson c = parse_back(s.substr(6, s.size() - 8));
  EXPECT_EQ(c["choices"][0]["logprobs"]["content"].size(), 1u);
  EXPECT_EQ(c["choices"][0]["logprobs"]["content"][0]["token"], "Hi");
}

TEST(ChatResponse, StreamChunks) {
  std::string role = "assistant", piece = "Hel", empty, stop = "stop";
  auto event = [](const std::string& s) {
    EXPECT_EQ(s.rfind("data: ", 0), 0u) << s;
    EXPECT_EQ(s.substr(s.size() - 2), "\n\n") << s;
    return parse_back(s.substr(6, s.size() - 8));
  };
  ojson first = event(openai_chat_chunk("id1", "m", 5, &role, &empty, nullptr));
  EXPECT_EQ(first["id"], "chatcmpl-id1");
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["created"], 5);
  EXPECT_EQ(first["model"], "m");
  EXPECT_EQ(first["choices"][0]["index"], 0);
  EXPECT_EQ(first["choices"][0]["delta"], ojson::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(first["choices"][0]["logprobs"].is_null());
  ojson middle = event(openai_chat_chunk("id1", "m", 5, nullptr, &piece, nullptr));
  EXPECT_EQ(middle["choices"][0]["delta"], ojson::parse(R"({"content":"Hel"})"));
  ojson last = event(openai_chat_chunk("id1", "m", 5, nullptr, nullptr, &stop));
  EXPECT_EQ(last["choices"][0]["delta"], ojson::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(openai_stream_done(), "data: [DONE]\n\n");
  EXPECT_FALSE(middle.contains("usage"));
  // include_usage: "usage":null on every chunk, then one chunk with no choices and the counts.
  ojson with_null = event(openai_chat_chunk("id1", "m", 5, nullptr, &piece, nullptr, true));
  EXPECT_TRUE(with_null.contains("usage") && with_null["usage"].is_null());
  ojson usage = event(openai_usage_chunk("id1", "m", 5, 11, 4));
  EXPECT_EQ(usage["object"], "chat.completion.chunk");
  EXPECT_EQ(usage["choices"], ojson::array());
  EXPECT_EQ(usage["usage"],
            ojson::parse(R"({"prompt_tokens":11,"completion_tokens":4,"total_tokens":15})"));
  // prompt tokens from the prefix cache: OpenAI's prompt_tokens_details
  ojson cached = event(openai_usage_chunk("id1", "m", 5, 40, 4, false, 32));
  EXPECT_EQ(cached["usage"], ojson::parse(R"({"prompt_tokens":40,"completion_tokens":4,
      "total_tokens":44,"prompt_tokens_details":{"cached_tokens":32}})"));
  chat_result res{"x", 40, 1, "stop", 32};
  EXPECT_EQ(parse_back(openai_chat_response(res, "m", "a", 1))["usage"]["prompt_tokens_details"],
            ojson::parse(R"({"cached_tokens":32})"));
}

TEST(ChatResponse, Completions) {
  chat_result r{"a story", 3, 2, "length"};
  ojson j = parse_back(openai_completion_response(r, "m", "c1", 9));
  EXPECT_EQ(j, ojson::parse(R"({"id":"cmpl-c1","object":"text_completion","created":9,"model":"m",
      "choices":[{"index":0,"text":"a story","logprobs":null,"finish_reason":"length"}],
      "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"));
  std::string piece = openai_completion_chunk("c1", "m", 9, "a st", nullptr);
  ASSERT_EQ(piece.rfind("data: ", 0), 0u);
  ojson c = parse_back(piece.substr(6, piece.size() - 8));
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["text"], "a st");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(c.contains("usage"));
  std::string stop = "stop";
  std::string last = openai_completion_chunk("c1", "m", 9, "", &stop, true);
  ojson l = parse_back(last.substr(6, last.size() - 8));
  EXPECT_EQ(l["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(l.contains("usage") && l["usage"].is_null());
  std::string usage = openai_usage_chunk("c1", "m", 9, 3, 2, true);
  ojson u = parse_back(usage.substr(6, usage.size() - 8));
  EXPECT_EQ(u["id"], "cmpl-c1");
  EXPECT_EQ(u["object"], "text_completion");
  EXPECT_EQ(u["usage"]["total_tokens"], 5);
}

TEST(ChatResponse, ErrorsModelsAndLegacy) {
  ojson e = parse_back(openai_error_body(invalid_argument("expected a number", "temperature")));
  EXPECT_EQ(e["error"]["message"], "temperature: expected a number");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "temperature");
  EXPECT_TRUE(e["error"]["code"].is_null());
  ojson u = parse_back(openai_error_body(status(status_code::unimplemented, "no", "n")));
  EXPECT_EQ(u["error"]["type"], "not_implemented");
  ojson s = parse_back(openai_error_body(internal_error("engine died")));
  EXPECT_EQ(s["error"]["type"], "server_error");
  EXPECT_TRUE(s["error"]["param"].is_null());
  EXPECT_EQ(s["error"]["message"], "engine died");
  ojson nf = parse_back(openai_error_body(not_found("model \"x\" not served", "model")));
  EXPECT_EQ(nf["error"]["type"], "invalid_request_error");

  ojson m = parse_back(openai_models_body(
      {model_card{"phi-3", "", "", 4096}, model_card{"my-adapter", "/mnt/adapter/a", "phi-3"}},
      77));
  EXPECT_EQ(m, ojson::parse(R"({"object":"list","data":[
      {"id":"phi-3","object":"model","created":77,"owned_by":"kaito","max_model_len":4096},
      {"id":"my-adapter","object":"model","created":77,"owned_by":"kaito",
       "root":"/mnt/adapter/a","parent":"phi-3"}]})"));
  EXPECT_EQ(parse_back(openai_models_body({model_card{"x"}}, 1))["data"][0].size(), 4u);
  EXPECT_EQ(parse_back(openai_models_body({}, 1))["data"], ojson::array());

  EXPECT_EQ(parse_back(legacy_chat_response("a \"b\"\n"))["Result"], "a \"b\"\n");
  EXPECT_EQ(parse_back(legacy_error_body(invalid_argument("bad", "prompt")))["detail"],
            "prompt: bad");
}

TEST(ChatResponse, InvalidUtf8FromTheModelStaysValidJson) {
  std::string text = "ok \xe4\xbd cut \xff\xfe end \xf0\x9f\x8c";  // cut multi-byte tokens
  std::string replaced = "ok \xef\xbf\xbd cut \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd";
  chat_result res{text, 1, 2, "stop"};
  EXPECT_EQ(
      parse_back(openai_chat_response(res, "m\xff", "i", 0))["choices"][0]["message"]["content"],
      replaced);
  std::string chunk = openai_chat_chunk("i", "m", 0, nullptr, &text, nullptr);
  EXPECT_EQ(parse_back(chunk.substr(6, chunk.size() - 8))["choices"][0]["delta"]["content"],
            replaced);
  EXPECT_EQ(parse_back(legacy_chat_response(text))["Result"], replaced);
  parse_back(openai_error_body(invalid_argument(text, text)));
  parse_back(legacy_error_body(invalid_argument(text)));
  parse_back(openai_models_body({model_card{text, text, text}}, 0));
  // A malformed request's error (its message may quote the bad bytes) also stays valid JSON.
  auto bad = parse_openai_chat_request("{\"model\":\"\xff\xff\"}");
  ASSERT_FALSE(bad.ok());
  parse_back(openai_error_body(bad.error()));
}

}  // namespace
}  // namespace kaito::api
