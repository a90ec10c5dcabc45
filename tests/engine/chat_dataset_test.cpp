// chat_dataset: JSONL chat records -> assistant-only labels with the real SentencePiece-BPE
// fixture tokenizer and the Phi-3 chat template (labels checked against ids from HF tokenizers),
// record errors naming line and field, truncation, packing, and QLoRA training of a tiny random
// model on the tokenized chats until the assistant-token loss is below 0.05, after which greedy
// generation from each prompt decodes back to the exact trained answer.
#include "engine/chat_dataset.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/generate.h"
#include "tests/engine/random_model.h"

namespace kaito::engine {
namespace {

const std::string k_fixtures = std::string(KAITO_SHARED_DIR) + "/fixtures";

// Characters the fixture vocabulary covers (no '?', no capitals past the few it has).
const char* k_jsonl =
    R"({"messages":[{"role":"user","content":"name a color"},{"role":"assistant","content":"blue"}]}
{"messages":[{"role":"system","content":"be short"},{"role":"user","content":"what is two plus two"},{"role":"assistant","content":"four"}]}

{"messages":[{"role":"user","content":"say hi"},{"role":"assistant","content":"hello there"},{"role":"user","content":"and bye"},{"role":"assistant","content":"good night"}]}
{"messages":[{"role":"user","content":"pick a pet"},{"role":"assistant","content":"a small cat"}]}
)";

struct text_parts {
  tokenizer tok;
  chat_template tmpl;
};

text_parts load_text() {
  auto tok = tokenizer::from_file(k_fixtures + "/tokenizers/sentencepiece_bpe.tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.error().to_string();
  auto tmpl = chat_template::from_file(std::string(KAITO_SOURCE_DIR) +
                                       "/presets/chat_templates/phi-3.jinja");
  EXPECT_TRUE(tmpl.ok()) << tmpl.error().to_string();
  return {std::move(tok.value()), std::move(tmpl.value())};
}

chat_tokenize_options phi3_options(int64_t max_length = 512) {
  chat_tokenize_options o;
  o.max_length = max_length;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  return o;
}

TEST(chat_dataset, labels_mask_assistant_tokens_exactly) {
  auto t = load_text();
  auto recs = parse_chat_jsonl(k_jsonl);
  ASSERT_TRUE(recs.ok()) << recs.error().to_string();
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ((*recs)[2].line, 4);  // the blank line 3 is skipped but counted
  auto ex = tokenize_chat(t.tok, t.tmpl, (*recs)[0], phi3_options());
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  EXPECT_EQ(ex->text, "<|user|>\nname a color<|end|>\n<|assistant|>\nblue<|end|>\n</s>");
  // HF tokenizers on the two pieces (add_special_tokens=False):
  //   "<|user|>\nname a color<|end|>\n<|assistant|>\n" and "blue<|end|>\n</s>".
  const std::vector<int32_t> prompt = {91, 29,  85, 224, 110, 85, 31, 4,  209, 146, 91, 254,
                                       69, 102, 29, 85,  104, 61, 85, 31, 4,   29,  85, 58,
                                       76, 76,  66, 76,  77,  58, 71, 77, 85,  31,  4};
  const std::vector<int32_t> answer = {175, 69, 193, 29, 85, 104, 61, 85, 31, 4, 2};
  std::vector<int32_t> ids = prompt, labels(prompt.size(), -100);
  ids.insert(ids.end(), answer.begin(), answer.end());
  labels.insert(labels.end(), answer.begin(), answer.end());
  EXPECT_EQ(ex->ids, ids);
  EXPECT_EQ(ex->labels, labels);
  ASSERT_EQ(ex->spans.size(), 1u);
  EXPECT_EQ(ex->spans[0], std::make_pair(int64_t(35), int64_t(46)));
  // Multi-turn: two spans; the first ends at "<|end|>\n" (no eos), the last takes the eos.
  auto mt = tokenize_chat(t.tok, t.tmpl, (*recs)[2], phi3_options());
  ASSERT_TRUE(mt.ok()) << mt.error().to_string();
  ASSERT_EQ(mt->char_spans.size(), 2u);
  const auto span_text = [&](size_t i) {
    return mt->text.substr(size_t(mt->char_spans[i].first),
                           size_t(mt->char_spans[i].second - mt->char_spans[i].first));
  };
  EXPECT_EQ(span_text(0), "hello there<|end|>\n");
  EXPECT_EQ(span_text(1), "good night<|end|>\n</s>");
  int64_t supervised = 0;
  for (size_t i = 0; i < mt->ids.size(); ++i) {
    const bool in = (int64_t(i) >= mt->spans[0].first && int64_t(i) < mt->spans[0].second) ||
                    (int64_t(i) >= mt->spans[1].first && int64_t(i) < mt->spans[1].second);
    EXPECT_EQ(mt->labels[i], in ? mt->ids[i] : -100) << i;
    supervised += in;
  }
  EXPECT_EQ(t.tok
                .decode(std::vector<int32_t>(mt->ids.begin() + mt->spans[0].first,
                                             mt->ids.begin() + mt->spans[0].second))
                .value(),
            "hello there<|end|>\n");
  EXPECT_GT(supervised, 10);
  // Truncation keeps the first max_length tokens; packing concatenates whole examples.
  auto tr = tokenize_chat(t.tok, t.tmpl, (*recs)[0], phi3_options(40));
  ASSERT_TRUE(tr.ok());
  EXPECT_TRUE(tr->truncated);
  EXPECT_EQ(tr->ids, std::vector<int32_t>(ids.begin(), ids.begin() + 40));
  EXPECT_EQ(tr->spans[0], std::make_pair(int64_t(35), int64_t(40)));
  auto unpacked = build_chat_dataset(t.tok, t.tmpl, recs.value(), phi3_options(), false).value();
  auto packed = build_chat_dataset(t.tok, t.tmpl, recs.value(), phi3_options(200), true).value();
  size_t total = 0;
  for (const auto& e : unpacked) total += e.ids.size();
  size_t packed_total = 0;
  for (const auto& e : packed) {
    EXPECT_LE(e.ids.size(), 200u);
    packed_total += e.ids.size();
  }
  EXPECT_EQ(packed_total, total);
  EXPECT_LT(packed.size(), unpacked.size());
  EXPECT_EQ(std::vector<int32_t>(packed[0].ids.begin(), packed[0].ids.begin() + 46), ids);
}

TEST(chat_dataset, bad_records_name_line_and_field) {
  auto where = [](const char* text) {
    auto r = parse_chat_jsonl(text);
    return r.ok() ? std::string("ok") : r.error().where();
  };
  const char* good =
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})";
  EXPECT_EQ(where((std::string(good) + "\n{oops\n").c_str()), "line 2");
  EXPECT_EQ(where("[1]"), "line 1");
  EXPECT_EQ(where("{}"), "line 1: messages");
  EXPECT_EQ(where(R"({"messages":{}})"), "line 1: messages");
  EXPECT_EQ(where(R"({"messages":[]})"), "line 1: messages");
  EXPECT_EQ(where((std::string(good) + "\n\n" +
                   R"({"messages":[{"role":"user","content":"a"},{"role":"assistant"}]})")
                      .c_str()),
            "line 3: messages[1].content");
  EXPECT_EQ(where(R"({"messages":[{"role":"user","content":"a"},{"role":7,"content":"b"}]})"),
            "line 1: messages[1].role");
  EXPECT_EQ(where(R"({"messages":["x"]})"), "line 1: messages[0]");
  EXPECT_EQ(where(R"({"messages":[{"role":"user","content":"a"}]})"), "line 1: messages");
  // A template that renders a turn differently once more messages follow is refused.
  auto t = load_text();
  auto odd = chat_template::compile(
      "{% for m in messages %}{% if loop.last %}[{{ m.content }}]{% else %}{{ m.content }}"
      "{% endif %}{% endfor %}");
  ASSERT_TRUE(odd.ok());
  auto rec = parse_chat_record(
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]})",
      9);
  ASSERT_TRUE(rec.ok());
  auto ex = tokenize_chat(t.tok, odd.value(), rec.value(), phi3_options());
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.error().where(), "line 9: messages[1]");
}

TEST(chat_dataset, qlora_learns_the_answers_and_generation_reproduces_them) {
  auto t = load_text();
  auto recs = parse_chat_jsonl(k_jsonl).value();
  auto examples = build_chat_dataset(t.tok, t.tmpl, recs, phi3_options(), false);
  ASSERT_TRUE(examples.ok()) << examples.error().to_string();
  // A tiny random Llama whose vocabulary is the tokenizer's.
  const std::string json = R"({"model_type":"llama","vocab_size":)" +
                           std::to_string(t.tok.vocab_size()) + R"(,"hidden_size":64,
    "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "max_position_embeddings":256,"rms_norm_eps":1e-5,"rope_theta":10000.0})";
  auto c = parse_model_config(json);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const std::string dir = ::testing::TempDir() + "/kaito_chat_ds_" + std::to_string(getpid());
  ASSERT_TRUE(testing::write_model_folder(dir, json, c.value(), 11, 1).ok());
  auto loaded = load_model(dir);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  std::shared_ptr<model> m = loaded.value();
  nf4_quantize_linears(m.get(), /*double_quant=*/true);  // QLoRA: NF4 base
  lora_config lc;
  lc.r = 8;
  lc.alpha = 16;
  lc.target_modules = {"all-linear"};
  train_config tc;
  tc.micro_batch_size = 2;
  tc.grad_accum = 1;
  tc.total_steps = 120;
  tc.adamw.weight_decay = 0.0;
  tc.schedule.kind = lr_schedule_kind::linear;
  tc.schedule.base_lr = 2e-2;
  tc.schedule.warmup_steps = 5;
  tc.schedule.total_steps = tc.total_steps;
  tc.max_grad_norm = 1.0;
  tc.seed = 5;
  auto tr = trainer::create(m, lora_create(m->config, lc, 42).value(), examples.value(), tc);
  ASSERT_TRUE(tr.ok()) << tr.error().to_string();
  const double before = tr->evaluate().value();
  for (int64_t i = 0; i < tc.total_steps; ++i) ASSERT_TRUE(tr->step().ok());
  const double after = tr->evaluate().value();
  std::printf("assistant-token loss %.4f -> %.5f\n", before, after);
  EXPECT_GT(before, 3.0);
  EXPECT_LT(after, 0.05);
  // Generation: the prompt is everything before an assistant span; decoding the greedy tokens up
  // to "<|end|>" must give the exact answer content.
  const int32_t eos = t.tok.token_to_id("</s>").value();
  for (const auto& rec : recs) {
    auto ex = tokenize_chat(t.tok, t.tmpl, rec, phi3_options()).value();
    size_t turn = 0;
    for (size_t i = 0; i < rec.messages.size(); ++i) {
      if (rec.messages[i]["role"] != "assistant") continue;
      const auto [b, e] = ex.spans[turn++];
      std::vector<int32_t> prompt(ex.ids.begin(), ex.ids.begin() + b);
      generate_options opt;
      opt.max_new_tokens = e - b + 2;
      opt.stop_tokens = {eos};
      auto got = generate_greedy(*m, &tr->adapter(), prompt, opt);
      ASSERT_TRUE(got.ok()) << got.error().to_string();
      const std::string text = t.tok.decode(got.value()).value();
      const std::string answer = rec.messages[i]["content"].get<std::string>();
      EXPECT_EQ(text.substr(0, text.find("<|end|>")), answer) << "line " << rec.line;
      EXPECT_NE(text.find("<|end|>"), std::string::npos) << text;
    }
  }
}

}  // namespace
}  // namespace kaito::engine
