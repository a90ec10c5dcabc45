// sft_dataset: TRL SFTTrainer's language-modeling, prompt-completion and conversational
// prompt-completion records with the real SentencePiece-BPE fixture tokenizer (ids checked against
// HF tokenizers 0.23, with and without a post-processor that adds BOS) and the Phi-3 template:
// EOS appended, TRL's mask boundary (also where the prompt's tokens are not a prefix), the
// conversational labels equal to the messages format's last assistant turn; format detection,
// mixed formats and bad records naming line / row and field, for JSONL, JSON arrays and the
// checked-in Parquet files of tests/data/sft (make_sft.py).
#include "engine/sft_dataset.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kaito::engine {
namespace {

const std::string k_fixtures = std::string(KAITO_SHARED_DIR) + "/fixtures";
const std::string k_sft = std::string(KAITO_SOURCE_DIR) + "/tests/data/sft/";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The fixture tokenizer, optionally with a TemplateProcessing post-processor "<s> $A" (as Llama's).
tokenizer load_tokenizer(bool bos) {
  auto j =
      nlohmann::json::parse(read_file(k_fixtures + "/tokenizers/sentencepiece_bpe.tokenizer.json"));
  if (bos)
    j["post_processor"] = nlohmann::json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"Sequence": {"id": "B", "type_id": 1}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}})");
  auto tok = tokenizer::from_json(j.dump());
  EXPECT_TRUE(tok.ok()) << tok.error().to_string();
  return std::move(tok.value());
}

chat_template phi3() {
  auto t = chat_template::from_file(std::string(KAITO_SOURCE_DIR) +
                                    "/presets/chat_templates/phi-3.jinja");
  EXPECT_TRUE(t.ok()) << t.error().to_string();
  return std::move(t.value());
}

chat_tokenize_options options(int64_t max_length = 512) {
  chat_tokenize_options o;
  o.max_length = max_length;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  return o;
}

sft_record one(const std::string& jsonl) {
  auto r = parse_sft_jsonl(jsonl);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->size(), 1u);
  return r->at(0);
}

std::vector<int32_t> masked(std::vector<int32_t> ids, size_t n) {
  for (size_t i = 0; i < n && i < ids.size(); ++i) ids[i] = -100;
  return ids;
}

TEST(sft_dataset, text_records_append_eos_and_supervise_every_token) {
  const chat_template tmpl = phi3();
  const sft_record rec = one(R"({"text": "name a color"})");
  EXPECT_EQ(rec.format, sft_format::text);
  // HF: encode("name a color</s>"); with the BOS post-processor a leading <s> (id 1).
  const std::vector<int32_t> plain = {152, 199, 146, 91, 254, 69, 102, 2};
  std::vector<int32_t> with_bos = {1};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  auto ex = tokenize_sft(load_tokenizer(false), tmpl, rec, options());
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  EXPECT_EQ(ex->ids, plain);
  EXPECT_EQ(ex->labels, plain);
  const tokenizer bos = load_tokenizer(true);
  ex = tokenize_sft(bos, tmpl, rec, options());
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  EXPECT_EQ(ex->ids, with_bos);
  EXPECT_EQ(ex->labels, with_bos);
  // an eos already there is not doubled; truncation keeps the first max_length tokens
  ex = tokenize_sft(bos, tmpl, one(R"({"text": "name a color</s>"})"), options());
  EXPECT_EQ(ex->ids, with_bos);
  ex = tokenize_sft(bos, tmpl, rec, options(4));
  EXPECT_TRUE(ex->truncated);
  EXPECT_EQ(ex->ids, std::vector<int32_t>(with_bos.begin(), with_bos.begin() + 4));
}

TEST(sft_dataset, prompt_completion_masks_the_prompt_as_trl_does) {
  const chat_template tmpl = phi3();
  const tokenizer bos = load_tokenizer(true);
  const sft_record rec =
      one(R"({"prompt": "what is two plus two\nanswer:", "completion": " four"})");
  EXPECT_EQ(rec.format, sft_format::prompt_completion);
  // HF: encode(prompt) is the first 22 of encode(prompt + completion + "</s>").
  const std::vector<int32_t> ids = {1,  176, 65, 124, 137, 76, 103, 80, 72,  126, 69, 224, 103, 80,
                                    72, 4,   58, 71,  76,  80, 110, 27, 121, 72,  78, 75,  2};
  auto ex = tokenize_sft(bos, tmpl, rec, options());
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  EXPECT_EQ(ex->ids, ids);
  EXPECT_EQ(ex->labels, masked(ids, 22));
  EXPECT_EQ(ex->spans.at(0), std::make_pair(int64_t(22), int64_t(27)));
  EXPECT_EQ(ex->text, "what is two plus two\nanswer: four</s>");
  // The prompt's trailing space merges into "▁f": encode(prompt) (16 ids, ending in "▁") is not a
  // prefix; TRL masks its length anyway, so "▁f" is masked and "o", "u", "r", "</s>" learned.
  const sft_record odd = one(R"({"prompt": "what is two plus two ", "completion": "four"})");
  const std::vector<int32_t> odd_ids = {1,  176, 65,  124, 137, 76,  103, 80, 72, 126,
                                        69, 224, 103, 80,  72,  121, 72,  78, 75, 2};
  ex = tokenize_sft(bos, tmpl, odd, options());
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  EXPECT_EQ(ex->ids, odd_ids);
  EXPECT_EQ(ex->labels, masked(odd_ids, 16));
  // Without BOS the boundary moves with it.
  ex = tokenize_sft(load_tokenizer(false), tmpl, rec, options());
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->ids, std::vector<int32_t>(ids.begin() + 1, ids.end()));
  EXPECT_EQ(ex->labels, masked(std::vector<int32_t>(ids.begin() + 1, ids.end()), 21));
}

TEST(sft_dataset, conversational_prompt_completion_supervises_the_completion_turns) {
  const chat_template tmpl = phi3();
  const tokenizer tok = load_tokenizer(false);
  // One user turn: the same ids and labels as the messages record.
  const sft_record pc = one(
      R"({"prompt": [{"role": "user", "content": "name a color"}], "completion": [{"role": "assistant", "content": "blue"}]})");
  EXPECT_EQ(pc.format, sft_format::conversational_prompt_completion);
  EXPECT_EQ(pc.chat.prompt_messages, 1u);
  auto msgs = parse_chat_record(
      R"({"messages": [{"role": "user", "content": "name a color"}, {"role": "assistant", "content": "blue"}]})",
      1);
  ASSERT_TRUE(msgs.ok());
  auto a = tokenize_sft(tok, tmpl, pc, options());
  auto b = tokenize_chat(tok, tmpl, msgs.value(), options());
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  EXPECT_EQ(a->ids, b->ids);
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_EQ(a->spans, b->spans);
  // A prompt holding an earlier assistant turn: only the completion's turn is learned, and its
  // tokens are those the messages record learns for its last turn. (The ids before it differ
  // here: the messages record also cuts the text at the first turn's span, and with this
  // tokenizer's Metaspace "always" each piece starts a new word.)
  const sft_record multi = one(
      R"({"prompt": [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": "hello there"}, {"role": "user", "content": "and bye"}], "completion": [{"role": "assistant", "content": "good night"}]})");
  auto whole = parse_chat_record(
      R"({"messages": [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": "hello there"}, {"role": "user", "content": "and bye"}, {"role": "assistant", "content": "good night"}]})",
      1);
  a = tokenize_sft(tok, tmpl, multi, options());
  b = tokenize_chat(tok, tmpl, whole.value(), options());
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->spans.size(), 2u);
  ASSERT_EQ(a->spans.size(), 1u);
  EXPECT_EQ(a->text, b->text);
  EXPECT_EQ(a->char_spans[0], b->char_spans[1]);
  const auto [ab, ae] = a->spans[0];
  const auto [bb, be] = b->spans[1];
  EXPECT_EQ(ae, int64_t(a->ids.size()));
  EXPECT_EQ(std::vector<int32_t>(a->labels.begin() + ab, a->labels.end()),
            std::vector<int32_t>(b->labels.begin() + bb, b->labels.begin() + be));
  EXPECT_EQ(a->labels, masked(a->ids, size_t(ab)));
  EXPECT_EQ(a->text.substr(size_t(a->char_spans[0].first)), "good night<|end|>\n</s>");
}

TEST(sft_dataset, messages_records_read_as_before) {
  const char* text =
      R"({"messages":[{"role":"user","content":"name a color"},{"role":"assistant","content":"blue"}]}

{"messages":[{"role":"user","content":"say hi"},{"role":"assistant","content":"hello there"}]}
)";
  auto old = parse_chat_jsonl(text);
  auto now = parse_sft_data(text);
  ASSERT_TRUE(old.ok() && now.ok());
  ASSERT_EQ(now->size(), 2u);
  const tokenizer tok = load_tokenizer(false);
  const chat_template tmpl = phi3();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*now)[i].format, sft_format::messages);
    EXPECT_EQ((*now)[i].chat.line, (*old)[i].line);
    EXPECT_EQ((*now)[i].chat.messages, (*old)[i].messages);
    EXPECT_EQ(tokenize_sft(tok, tmpl, (*now)[i], options())->labels,
              tokenize_chat(tok, tmpl, (*old)[i], options())->labels);
  }
}

TEST(sft_dataset, bad_records_name_line_row_and_field) {
  auto where = [](const std::string& text) {
    auto r = parse_sft_data(text);
    return r.ok() ? std::string("ok") : r.error().where();
  };
  auto message = [](const std::string& text) {
    auto r = parse_sft_data(text);
    return r.ok() ? std::string("ok") : r.error().message();
  };
  const std::string pc = R"({"prompt": "a", "completion": "b"})";
  EXPECT_EQ(where(pc + "\n" + pc + "\n" + R"({"prompt": "a"})"), "line 3: completion");
  EXPECT_EQ(where(R"({"completion": "b"})"), "line 1: prompt");
  EXPECT_EQ(where(R"({"prompt": "a", "completion": 3})"), "line 1: completion");
  EXPECT_EQ(where(R"({"text": null})"), "line 1: text");
  EXPECT_EQ(where(R"({"txt": "a"})"), "line 1");
  EXPECT_EQ(where(R"({"text": "a"})"
                  "\n{}"),
            "line 2: text");
  EXPECT_EQ(where(R"({"text": "a"})"
                  "\n\n" +
                  pc),
            "line 3");
  EXPECT_NE(message(R"({"text": "a"})"
                    "\n" +
                    pc)
                .find("prompt-completion record in a file of text"),
            std::string::npos);
  EXPECT_EQ(where(R"({"prompt": [{"role": "user", "content": "a"}], "completion": "b"})"),
            "line 1: completion");
  EXPECT_EQ(where(R"({"prompt": [{"content": "a"}], "completion": []})"), "line 1: prompt[0].role");
  EXPECT_EQ(where(R"({"prompt": [{"role": "user", "content": "a"}], "completion": []})"),
            "line 1: completion");
  EXPECT_EQ(where(R"({"messages": [{"role": "user", "content": "a"}]})"), "line 1: messages");
  // a JSON array: rows from 0, a syntax error by byte
  EXPECT_EQ(where("[" + pc + ", " + R"({"prompt": "a", "completion": null})" + "]"),
            "row 1: completion");
  EXPECT_EQ(where("[" + pc + ",\n oops]"), "byte 39");
  EXPECT_EQ(where(" [1]"), "row 0");
  auto arr = parse_sft_data("\n[" + pc + ", " + pc + "]\n");
  ASSERT_TRUE(arr.ok()) << arr.error().to_string();
  EXPECT_EQ(arr->size(), 2u);
  EXPECT_EQ(chat_record_place((*arr)[1].chat), "row 1");
  // other column names
  sft_columns cols;
  cols.text = "body";
  auto body = parse_sft_data(R"({"body": "x", "text": 1})", cols);
  ASSERT_TRUE(body.ok()) << body.error().to_string();
  EXPECT_EQ((*body)[0].text, "x");
}

// tests/data/sft: each format's Parquet file reads as its JSONL twin.
TEST(sft_dataset, parquet_files_read_as_their_jsonl) {
  for (const char* name : {"prompt_completion", "conversational", "text"}) {
    SCOPED_TRACE(name);
    auto jsonl = parse_sft_data(read_file(k_sft + name + ".jsonl"));
    auto parquet = parse_sft_data(read_file(k_sft + name + ".parquet"));
    ASSERT_TRUE(jsonl.ok()) << jsonl.error().to_string();
    ASSERT_TRUE(parquet.ok()) << parquet.error().to_string();
    ASSERT_EQ(parquet->size(), 6u);
    ASSERT_EQ(jsonl->size(), 6u);
    for (size_t i = 0; i < 6; ++i) {
      const sft_record& p = (*parquet)[i];
      const sft_record& j = (*jsonl)[i];
      EXPECT_EQ(p.format, j.format);
      EXPECT_EQ(p.prompt, j.prompt);
      EXPECT_EQ(p.completion, j.completion);
      EXPECT_EQ(p.text, j.text);
      EXPECT_EQ(p.chat.prompt_messages, j.chat.prompt_messages);
      EXPECT_EQ(nlohmann::json::parse(p.chat.messages.dump()),
                nlohmann::json::parse(j.chat.messages.dump()));
      EXPECT_EQ(chat_record_place(p.chat), "row " + std::to_string(i));
    }
  }
  // The CSV twins (csv.writer: quoted multi-line prompts, CRLF) read the same; places are the
  // lines rows start on.
  for (const char* name : {"prompt_completion", "text"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(is_csv_name(std::string(name) + ".CSV"));
    auto jsonl = parse_sft_data(read_file(k_sft + name + ".jsonl"));
    auto csv = parse_sft_csv(read_file(k_sft + name + ".csv"));
    ASSERT_TRUE(csv.ok()) << csv.error().to_string();
    ASSERT_EQ(csv->size(), jsonl->size());
    for (size_t i = 0; i < csv->size(); ++i) {
      EXPECT_EQ((*csv)[i].format, (*jsonl)[i].format);
      EXPECT_EQ((*csv)[i].prompt, (*jsonl)[i].prompt);
      EXPECT_EQ((*csv)[i].completion, (*jsonl)[i].completion);
      EXPECT_EQ((*csv)[i].text, (*jsonl)[i].text);
    }
    EXPECT_EQ(chat_record_place((*csv)[1].chat), "line 4");  // each record spans two lines
  }
  auto messages_csv = parse_sft_csv("messages\n\"[{\"\"role\"\": \"\"user\"\"}]\"\n");
  ASSERT_FALSE(messages_csv.ok());
  EXPECT_EQ(messages_csv.error().where().rfind("line 2", 0), 0u)
      << messages_csv.error().to_string();
  EXPECT_EQ((*parse_sft_data(read_file(k_sft + "text.parquet")))[0].text,
            "What is the capital of France?\nAnswer: Paris.");
  auto nulls = parse_sft_data(read_file(k_sft + "nulls.parquet"));
  ASSERT_FALSE(nulls.ok());
  EXPECT_EQ(nulls.error().where(), "row 1: completion");
  // a file with none of the columns names the ones it has
  sft_columns cols;
  cols.text = "body";
  auto none = parse_sft_data(read_file(k_sft + "text.parquet"), cols);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().where(), "columns");
  EXPECT_NE(none.error().message().find("(the file has: text)"), std::string::npos);
}

}  // namespace
}  // namespace kaito::engine
