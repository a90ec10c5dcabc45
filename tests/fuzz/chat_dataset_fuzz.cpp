// chat_dataset_fuzz: the JSONL chat record parser and engine/sft_dataset.h's readers (JSONL or a
// JSON array of messages, prompt-completion, conversational prompt-completion or text records) on
// arbitrary bytes, the same bytes as CSV (engine/csv_rows.h: rows as wide as the header), then
// (for records that parse) span finding and tokenization through a fixed
// ChatML-like template and a tiny byte-free tokenizer. Must never crash or hang: bad records end
// in a status naming line (or row) and field.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/chat_dataset.h"
#include "engine/csv_rows.h"
#include "engine/sft_dataset.h"

namespace {

const char* k_tokenizer = R"({"version":"1.0","added_tokens":[],"normalizer":null,
  "pre_tokenizer":null,"post_processor":null,"decoder":null,
  "model":{"type":"BPE","unk_token":"u","vocab":{"u":0,"a":1,"b":2,"<":3,">":4},"merges":[]}})";
const char* k_template =
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}</>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% else %}{{ eos_token }}{% endif %}";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static auto tok = kaito::engine::tokenizer::from_json(k_tokenizer);
  static auto tmpl = kaito::engine::chat_template::compile(k_template);
  if (!tok.ok() || !tmpl.ok()) __builtin_trap();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  kaito::engine::chat_tokenize_options opt;
  opt.max_length = 64;
  opt.eos_token = "<e>";
  auto sft = kaito::engine::parse_sft_data(bytes);
  if (sft.ok()) {
    std::vector<kaito::engine::train_example> examples;
    for (const auto& r : sft.value()) {
      auto ex = kaito::engine::tokenize_sft(*tok, *tmpl, r, opt);
      if (ex.ok()) examples.push_back({std::move(ex->ids), std::move(ex->labels)});
    }
    (void)kaito::engine::pack_examples(examples, opt.max_length);
  }
  // The same bytes as CSV: every row as wide as the header; records, if any, tokenize.
  auto table = kaito::engine::parse_csv(bytes);
  if (table.ok())
    for (const auto& row : table->rows)
      if (row.size() != table->header.size()) __builtin_trap();
  auto csv = kaito::engine::parse_sft_csv(bytes);
  if (csv.ok())
    for (const auto& r : csv.value()) (void)kaito::engine::tokenize_sft(*tok, *tmpl, r, opt);
  auto recs = kaito::engine::parse_chat_jsonl(bytes);
  if (!recs.ok()) return 0;
  for (const auto& r : recs.value()) (void)kaito::engine::tokenize_chat(*tok, *tmpl, r, opt);
  (void)kaito::engine::build_chat_dataset(*tok, *tmpl, recs.value(), opt, true);
  return 0;
}
