// chat_service on the tiny chat model folder: the answer is what generate() draws from the
// template-rendered prompt (greedy, end tokens from config / generation_config / eos_token),
// streamed pieces add up to the answer, stop strings cut it before the match (nothing past the
// cut leaks into the stream), max_tokens and HF's max_length, the context limit, adapters
// merged at load (a tuned adapter answers as the run-time adapter does), and load errors that
// name the file.
#include "engine/chat_service.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/generate.h"
#include "engine/json_prefix.h"
#include "engine/peft_adapter.h"
#include "engine/tune_job.h"
#include "tests/engine/tiny_chat_model.h"

namespace kaito::engine {
namespace {

std::string read_text_for_test(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::ordered_json question(const std::string& text) {
  return nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
}

// The reference prompt, built without chat_service: the folder's tokenizer_config.json template
// rendered with add_generation_prompt and encoded without special tokens (apply_chat_template).
struct reference_prompt {
  std::unique_ptr<tokenizer> tok;
  std::vector<int32_t> ids;
};

reference_prompt render_reference(const std::string& dir, const std::string& user_text) {
  reference_prompt r;
  auto tok = tokenizer::from_file(dir + "/tokenizer.json");
  EXPECT_TRUE(tok.ok());
  if (!tok.ok()) return r;
  r.tok = std::make_unique<tokenizer>(std::move(*tok));
  auto tc = parse_tokenizer_config(read_text_for_test(dir + "/tokenizer_config.json"));
  EXPECT_TRUE(tc.ok());
  if (!tc.ok()) return r;
  chat_template_inputs in;
  in.messages = question(user_text);
  in.add_generation_prompt = true;
  in.bos_token = tc->bos_token;
  in.eos_token = tc->eos_token;
  auto text = render_chat_template(tc->chat_template, in);
  EXPECT_TRUE(text.ok());
  if (!text.ok()) return r;
  auto ids = r.tok->encode(*text, false);
  EXPECT_TRUE(ids.ok());
  if (ids.ok()) r.ids = std::move(*ids);
  return r;
}

// Generated tokens as answer text: a final end token is not part of it.
std::string answer_text(const reference_prompt& p, std::vector<int32_t> out,
                        const std::vector<int32_t>& ends) {
  if (!out.empty() && std::find(ends.begin(), ends.end(), out.back()) != ends.end()) out.pop_back();
  return *p.tok->decode(out, true);
}

std::unique_ptr<chat_service> load_tiny(const std::string& dir,
                                        std::vector<std::string> adapters = {}) {
  chat_service_config c;
  c.model_dir = dir;
  c.adapter_dirs = std::move(adapters);
  auto s = chat_service::load(c);
  EXPECT_TRUE(s.ok()) << s.error().to_string();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(ChatService, AnswerIsGenerateOnTheRenderedPromptAndStreamsWhole) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  // config.json's eos 2 and the tokenizer's </s>; generation_config.json's as well.
  EXPECT_FALSE(s->end_tokens().empty());
  chat_options o;
  o.max_tokens = 12;
  std::string streamed;
  auto a = s->chat(question("What is the capital of France?"), o, [&](const std::string& p) {
    streamed += p;
    return true;
  });
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(streamed, a->text);
  EXPECT_GT(a->prompt_tokens, 5);
  EXPECT_GE(a->completion_tokens, 1);
  EXPECT_LE(a->completion_tokens, 12);

  // The same tokens straight from generate() over the rendered prompt.
  auto ref = render_reference(dir, "What is the capital of France?");
  auto m = load_model(dir);
  ASSERT_TRUE(ref.tok && !ref.ids.empty() && m.ok());
  EXPECT_EQ(static_cast<int64_t>(ref.ids.size()), a->prompt_tokens);
  // /tokenize gives the same ids; /detokenize turns ids back into text.
  EXPECT_EQ(s->tokenize_chat(question("What is the capital of France?"), true, false).value(),
            ref.ids);
  auto text_ids = s->tokenize_text("The sky is", false);
  ASSERT_TRUE(text_ids.ok());
  EXPECT_EQ(s->detokenize(*text_ids).value(), "The sky is");
  EXPECT_EQ(s->detokenize({1, 1 << 30}).error().where(), "tokens[1]");
  generate_options g;
  g.max_new_tokens = 12;
  g.stop_tokens = s->end_tokens();
  auto out = generate_greedy(**m, nullptr, ref.ids, g);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(static_cast<int64_t>(out->size()), a->completion_tokens);
  bool ended = !out->empty() && std::find(s->end_tokens().begin(), s->end_tokens().end(),
                                          out->back()) != s->end_tokens().end();
  EXPECT_EQ(answer_text(ref, *out, s->end_tokens()), a->text);
  EXPECT_EQ(a->length, !ended);
  std::filesystem::remove_all(dir);
}

// logprobs: one entry per answer token (the end token aside), each the model's own
// (generate()'s logprobs_of over the rendered prompt), whose texts make up the answer; streamed,
// every piece finds the tokens drawn since the last one, and all of them arrive once.
TEST(ChatService, LogprobsComeWithEveryAnswerToken) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_logprobs");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 12;
  o.logprobs = 2;
  std::vector<answer_logprob> pending;
  o.stream_logprobs = &pending;
  size_t streamed_entries = 0;
  std::string streamed;
  auto a = s->chat(question("What is the capital of France?"), o, [&](const std::string& p) {
    streamed += p;
    streamed_entries += pending.size();
    pending.clear();
    return true;
  });
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  streamed_entries += pending.size();
  EXPECT_EQ(streamed, a->text);
  auto ref = render_reference(dir, "What is the capital of France?");
  auto m = load_model(dir);
  ASSERT_TRUE(ref.tok && m.ok());
  generate_options g;
  g.max_new_tokens = 12;
  g.stop_tokens = s->end_tokens();
  std::vector<step_logprobs> want;
  g.logprobs = &want;
  g.top_logprobs = 2;
  auto out = generate_greedy(**m, nullptr, ref.ids, g);
  ASSERT_TRUE(out.ok());
  const bool ended = !out->empty() && std::find(s->end_tokens().begin(), s->end_tokens().end(),
                                                out->back()) != s->end_tokens().end();
  const size_t content = out->size() - (ended ? 1 : 0);
  ASSERT_EQ(a->logprobs.size(), content);
  EXPECT_EQ(streamed_entries, content);
  std::string joined;
  for (size_t i = 0; i < content; ++i) {
    const answer_logprob& e = a->logprobs[i];
    EXPECT_NEAR(e.logprob, want[i].chosen.logprob, 1e-5) << i;
    ASSERT_EQ(e.top.size(), 2u);
    EXPECT_EQ(want[i].top[0].id, (*out)[i]);  // greedy: the chosen one is the most likely
    EXPECT_EQ(e.top[0].first, e.token);
    EXPECT_NEAR(e.top[0].second, want[i].top[0].logprob, 1e-5);
    joined += e.token;
  }
  EXPECT_EQ(joined, a->text);
  // none asked: none given
  EXPECT_TRUE(
      s->chat(question("What is the capital of France?"), {.max_tokens = 3})->logprobs.empty());
  std::filesystem::remove_all(dir);
}

// json_object: every answer, greedy or sampled, streamed or not, is a prefix of one JSON object
// (json_prefix), and a whole object when it ended on its own (the end token comes only then);
// the same question without it answers something else.
TEST(ChatService, JsonObjectAnswersAreJsonObjects) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_json");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options plain;
  plain.max_tokens = 24;
  auto free_text = s->chat(question("Give me JSON."), plain);
  ASSERT_TRUE(free_text.ok());
  int whole = 0;
  for (int run = 0; run < 6; ++run) {
    chat_options o = plain;
    o.json_object = true;
    o.max_tokens = 48;
    o.sampling.temperature = run == 0 ? 0.0 : 1.0;
    o.sampling.seed = uint64_t(run);
    std::string streamed;
    auto a = s->chat(question("Give me JSON."), o, [&](const std::string& p) {
      streamed += p;
      return true;
    });
    ASSERT_TRUE(a.ok()) << a.error().to_string();
    EXPECT_EQ(streamed, a->text);
    json_prefix p;
    EXPECT_TRUE(p.feed(a->text)) << "run " << run << ": " << a->text;
    const size_t brace = a->text.find_first_not_of(" \t\r\n");
    ASSERT_NE(brace, std::string::npos) << "run " << run;
    EXPECT_EQ(a->text[brace], '{') << a->text;
    if (!a->length) {
      EXPECT_TRUE(p.complete()) << a->text;
      EXPECT_TRUE(nlohmann::json::parse(a->text).is_object()) << a->text;
      ++whole;
    }
    if (run == 0) {
      EXPECT_NE(a->text, free_text->text);
      std::printf("json_object, greedy: %s\n", a->text.c_str());
    }
  }
  std::printf("json_object: %d of 6 answers ended whole within 48 tokens\n", whole);
  std::filesystem::remove_all(dir);
}

// vLLM's ignore_eos, min_tokens and stop_token_ids, with the end token pushed first by
// logit_bias: the answer ends at once; with ignore_eos it runs to max_tokens; with min_tokens 5 it
// ends at the sixth token; a stop id ends it there, its text left out; an id outside the
// vocabulary is refused naming it.
TEST(ChatService, IgnoreEosMinTokensAndStopTokenIds) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_eos");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  const int32_t eos = s->end_tokens().front();
  chat_options o;
  o.max_tokens = 10;
  o.sampling.logit_bias = {{eos, 100.0f}};
  auto at_once = s->chat(question("Color of the sky?"), o);
  ASSERT_TRUE(at_once.ok());
  EXPECT_EQ(at_once->completion_tokens, 1);
  EXPECT_FALSE(at_once->length);
  chat_options ignore = o;
  ignore.ignore_eos = true;
  auto all = s->chat(question("Color of the sky?"), ignore);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->completion_tokens, 10);
  EXPECT_TRUE(all->length);
  chat_options min = o;
  min.min_tokens = 5;
  auto five = s->chat(question("Color of the sky?"), min);
  ASSERT_TRUE(five.ok());
  EXPECT_EQ(five->completion_tokens, 6);
  EXPECT_FALSE(five->length);
  chat_options total = o;  // HF's min_length: prompt + answer
  total.min_total_tokens = five->prompt_tokens + 3;
  auto three = s->chat(question("Color of the sky?"), total);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->completion_tokens, 4);
  // a stop id: the greedy answer's third token
  chat_options plain;
  plain.max_tokens = 8;
  plain.logprobs = 0;
  auto greedy = s->chat(question("Color of the sky?"), plain);
  ASSERT_TRUE(greedy.ok());
  ASSERT_GE(greedy->logprobs.size(), 3u) << greedy->text;
  auto ids = s->tokenize_text(greedy->logprobs[2].token, false);
  ASSERT_TRUE(ids.ok() && ids->size() == 1) << greedy->logprobs[2].token;
  chat_options stop_at = plain;
  stop_at.stop_token_ids = {(*ids)[0]};
  auto cut = s->chat(question("Color of the sky?"), stop_at);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->completion_tokens, 3);
  EXPECT_EQ(cut->text, greedy->logprobs[0].token + greedy->logprobs[1].token);
  stop_at.stop_token_ids = {1 << 20};
  auto refused = s->chat(question("Color of the sky?"), stop_at);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().where(), "stop_token_ids[0]");
  std::filesystem::remove_all(dir);
}

// logit_bias: -100 on the greedy answer's first token makes another come first; an id outside
// the vocabulary is refused naming logit_bias.
TEST(ChatService, LogitBiasSteersTheAnswerAndIsChecked) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_bias");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 4;
  o.logprobs = 0;
  auto first = s->chat(question("What is the capital of France?"), o);
  ASSERT_TRUE(first.ok() && !first->logprobs.empty()) << "the greedy answer is empty";
  const std::string first_text = first->logprobs[0].token;
  int32_t first_id = -1;  // the id whose text that is (the tiny vocabulary has 384)
  for (int32_t id = 0; id < 384 && first_id < 0; ++id) {
    auto text = s->detokenize({id});
    if (text.ok() && *text == first_text) first_id = id;
  }
  ASSERT_GE(first_id, 0) << first_text;
  o.sampling.logit_bias = {{first_id, -100.0f}};
  auto steered = s->chat(question("What is the capital of France?"), o);
  ASSERT_TRUE(steered.ok());
  EXPECT_TRUE(steered->logprobs.empty() || steered->logprobs[0].token != first_text)
      << steered->text;
  o.sampling.logit_bias = {{1 << 20, 1.0f}};
  auto refused = s->chat(question("What is the capital of France?"), o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().where(), "logit_bias.1048576");
  std::filesystem::remove_all(dir);
}

TEST(ChatService, StopStringsCutTheAnswerAndTheStream) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_stop");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 40;
  auto full = s->chat(question("Color of the sky?"), o);
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->text.size(), 6u) << "the greedy answer is too short to cut: " << full->text;
  // A stop string from the middle of the answer: the answer ends just before it.
  const size_t at = full->text.size() / 2;
  o.stop = {full->text.substr(at, 3), "\x01never"};
  std::string streamed;
  auto cut = s->chat(question("Color of the sky?"), o, [&](const std::string& p) {
    streamed += p;
    return true;
  });
  ASSERT_TRUE(cut.ok());
  const size_t first = full->text.find(o.stop[0]);
  EXPECT_EQ(cut->text, full->text.substr(0, first));
  EXPECT_EQ(streamed, cut->text);
  EXPECT_FALSE(cut->length);
  // A client that goes away stops the generation.
  int pieces = 0;
  const serving_snapshot before = s->stats();
  auto gone = s->chat(question("Color of the sky?"), chat_options{},
                      [&](const std::string&) { return ++pieces < 2; });
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(pieces, 2);
  // Every answer is counted (/metrics): tokens in and out, and why it ended.
  serving_snapshot after = s->stats();
  // A stopped answer leaves the batch at the decode thread's next step.
  for (int i = 0; i < 200 && after.running > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    after = s->stats();
  }
  EXPECT_EQ(after.finished_abort, before.finished_abort + 1);
  EXPECT_EQ(after.prompt_tokens, before.prompt_tokens + uint64_t(gone->prompt_tokens));
  EXPECT_EQ(after.generation_tokens, before.generation_tokens + uint64_t(gone->completion_tokens));
  EXPECT_EQ(after.e2e_latency.count, before.e2e_latency.count + 1);
  EXPECT_EQ(after.running, 0);
  EXPECT_EQ(after.waiting, 0);
  EXPECT_GE(before.finished_stop + before.finished_length, 2u);
  std::filesystem::remove_all(dir);
}

TEST(ChatService, LengthLimitsAndErrors) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_limits");
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 3;
  o.stop.clear();
  auto a = s->complete_text("The capital of France", o);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_LE(a->completion_tokens, 3);
  // HF's max_length counts the prompt: at or under the prompt, nothing is generated.
  o.max_total_tokens = 2;
  auto none = s->complete_text("The capital of France", o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->completion_tokens, 0);
  EXPECT_TRUE(none->length);
  // Past the context (256 tokens for the tiny model).
  auto big = s->chat(question(std::string(2000, 'a')), chat_options{});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().where(), "messages");
  // vLLM's max-model-len: a smaller served context refuses longer prompts and ends answers at it.
  {
    chat_service_config c;
    c.model_dir = dir;
    c.max_model_len = 24;
    c.max_batch = 2;
    auto small = chat_service::load(c);
    ASSERT_TRUE(small.ok()) << small.error().to_string();
    EXPECT_EQ((*small)->context_length(), 24);
    auto refused = (*small)->chat(question(std::string(60, 'a')), chat_options{});
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find("context is 24"), std::string::npos);
    chat_options many;
    many.max_tokens = 100;
    auto capped = (*small)->complete_text("The capital of France", many);
    ASSERT_TRUE(capped.ok());
    EXPECT_LE(capped->prompt_tokens + capped->completion_tokens, 24);
    // A stopping server ends its answers with unavailable (HTTP 503) instead of finishing them.
    (*small)->shutdown();
    EXPECT_EQ((*small)->complete_text("The capital", many).error().code(),
              status_code::unavailable);
    c.max_batch = 0;
    EXPECT_EQ(chat_service::load(c).error().where(), "max_batch");
  }
  // A template that refuses the roles says so.
  auto bad = s->chat(nlohmann::ordered_json::array({{{"role", "user"}}}), chat_options{});
  EXPECT_FALSE(bad.ok());
  // Loading: a missing tokenizer names its file.
  std::filesystem::remove(dir + "/tokenizer.json");
  chat_service_config c;
  c.model_dir = dir;
  auto missing = chat_service::load(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("tokenizer.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ChatService, MergedAdapterAnswersAsTheRunTimeAdapter) {
  tune_job j = testing::tiny_chat_job("chat_service_adapter", 6);
  j.qlora = false;  // fp32 base: the merge is exact up to rounding
  auto r = run_tune_job(j);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  auto s = load_tiny(j.model_dir, {j.out_dir});
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 8;
  auto merged = s->chat(question("Color of the sky?"), o);
  ASSERT_TRUE(merged.ok());
  // The run-time adapter on the unmerged base draws the same greedy tokens.
  auto m = load_model(j.model_dir);
  ASSERT_TRUE(m.ok());
  auto adapter = load_peft_adapter(j.out_dir, (*m)->config);
  ASSERT_TRUE(adapter.ok());
  auto ref = render_reference(j.model_dir, "Color of the sky?");
  ASSERT_TRUE(ref.tok && !ref.ids.empty());
  generate_options g;
  g.max_new_tokens = 8;
  g.stop_tokens = s->end_tokens();
  auto out = generate_greedy(**m, &*adapter, ref.ids, g);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(static_cast<int64_t>(out->size()), merged->completion_tokens);
  EXPECT_EQ(answer_text(ref, *out, s->end_tokens()), merged->text);
  // And the adapter changed the answer's distribution: the base alone draws other tokens.
  auto base = load_tiny(j.model_dir);
  ASSERT_TRUE(base);
  std::vector<float> with, without;
  generate_options lg = g;
  lg.max_new_tokens = 1;
  lg.step_logits = &with;
  ASSERT_TRUE(generate_greedy(**m, &*adapter, ref.ids, lg).ok());
  lg.step_logits = &without;
  ASSERT_TRUE(generate_greedy(**m, nullptr, ref.ids, lg).ok());
  EXPECT_NE(with, without);
  std::filesystem::remove_all(j.model_dir);
}

TEST(ChatService, AdapterStrengthScalesTheMergedDelta) {
  tune_job j = testing::tiny_chat_job("chat_service_strength", 6);
  j.qlora = false;
  auto r = run_tune_job(j);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  auto load = [&](float strength) {
    chat_service_config c;
    c.model_dir = j.model_dir;
    c.adapter_dirs = {j.out_dir};
    c.adapter_strengths = {strength};
    return chat_service::load(c);
  };
  chat_options o;
  o.max_tokens = 8;
  // Strength 0 answers as the base model.
  auto zero = load(0.0f);
  ASSERT_TRUE(zero.ok()) << zero.error().to_string();
  auto base = load_tiny(j.model_dir);
  ASSERT_TRUE(base);
  EXPECT_EQ((*zero)->chat(question("Color of the sky?"), o)->text,
            base->chat(question("Color of the sky?"), o)->text);
  // Strength 0.5 answers as the run-time adapter with half its scale.
  auto half = load(0.5f);
  ASSERT_TRUE(half.ok());
  auto merged = (*half)->chat(question("Color of the sky?"), o);
  ASSERT_TRUE(merged.ok());
  auto m = load_model(j.model_dir);
  ASSERT_TRUE(m.ok());
  auto adapter = load_peft_adapter(j.out_dir, (*m)->config);
  ASSERT_TRUE(adapter.ok());
  for (lora_module& mod : adapter->modules) mod.scale *= 0.5f;
  auto ref = render_reference(j.model_dir, "Color of the sky?");
  generate_options g;
  g.max_new_tokens = 8;
  g.stop_tokens = (*half)->end_tokens();
  auto out = generate_greedy(**m, &*adapter, ref.ids, g);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(answer_text(ref, *out, (*half)->end_tokens()), merged->text);
  // The logits differ from full strength's.
  std::vector<float> at_half, at_full;
  generate_options lg = g;
  lg.max_new_tokens = 1;
  lg.step_logits = &at_half;
  ASSERT_TRUE(generate_greedy(**m, &*adapter, ref.ids, lg).ok());
  for (lora_module& mod : adapter->modules) mod.scale *= 2.0f;
  lg.step_logits = &at_full;
  ASSERT_TRUE(generate_greedy(**m, &*adapter, ref.ids, lg).ok());
  EXPECT_NE(at_half, at_full);

  auto bad = load(1.5f);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().where(), "adapter_strengths");
  chat_service_config c;
  c.model_dir = j.model_dir;
  c.adapter_dirs = {j.out_dir};
  c.adapter_strengths = {0.5f, 0.5f};
  EXPECT_FALSE(chat_service::load(c).ok());
  std::filesystem::remove_all(j.model_dir);
}

TEST(ChatService, ABaseModelWithoutAChatTemplateCompletesAndTrainsOnText) {
  const std::string dir = testing::tiny_chat_model_folder("chat_service_base");
  {
    std::ifstream in(dir + "/tokenizer_config.json");
    nlohmann::json cfg = nlohmann::json::parse(in);
    cfg.erase("chat_template");  // as falcon-7b's or mistral-7b's
    std::ofstream(dir + "/tokenizer_config.json") << cfg.dump();
  }
  auto s = load_tiny(dir);
  ASSERT_TRUE(s);
  chat_options o;
  o.max_tokens = 4;
  auto text = s->complete_text("The sky is", o);
  ASSERT_TRUE(text.ok()) << text.error().to_string();
  EXPECT_GE(text->completion_tokens, 1);
  auto chat = s->chat(question("Color of the sky?"), o);
  ASSERT_FALSE(chat.ok());
  EXPECT_EQ(chat.error().code(), status_code::failed_precondition);
  EXPECT_NE(chat.error().message().find("no chat template"), std::string::npos)
      << chat.error().to_string();
  // With a preset's template to fall back on (what an inference pod gets), chats work.
  {
    chat_service_config c;
    c.model_dir = dir;
    c.fallback_chat_template =
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}";
    auto with = chat_service::load(c);
    ASSERT_TRUE(with.ok()) << with.error().to_string();
    auto answered = (*with)->chat(question("Color of the sky?"), o);
    ASSERT_TRUE(answered.ok()) << answered.error().to_string();
    EXPECT_EQ((*with)->tokenize_chat(question("Color of the sky?"), true, false).value(),
              (*with)->tokenize_text("user: Color of the sky?\nassistant:", false).value());
  }

  // Training: text records need no template; conversations are refused naming the reason.
  tune_job j;
  j.model_dir = dir;
  j.out_dir = dir + "/adapter";
  j.max_steps = 2;
  j.data_paths = {std::string(KAITO_SOURCE_DIR) + "/tests/data/sft/text.jsonl"};
  auto trained = run_tune_job(j);
  ASSERT_TRUE(trained.ok()) << trained.error().to_string();
  EXPECT_EQ(trained->steps, 2);
  j.data_paths = {testing::tiny_chat_dir() + "/chat.jsonl"};
  auto refused = run_tune_job(j);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().to_string().find("no chat template"), std::string::npos)
      << refused.error().to_string();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kaito::engine
