// chat_dataset: OpenAI-style chat records ({"messages": [{"role", "content"}, ...]}, Kaito's
// conversational dataset format, one JSON object per JSONL line or one Parquet row) turned into
// trainer examples:
// token ids plus labels that supervise the assistant turns only (labels = -100 elsewhere).
//
// Assistant spans. TRL's assistant_only_loss takes the mask from {% generation %} tags in the
// template; Kaito's preset templates have none, so the spans come from rendering prefixes of the
// conversation with the same template (the tag-free fallback): with full = render(messages), for
// assistant message i
//   start = |render(messages[:i], add_generation_prompt=true)|   (must be a prefix of full)
//   end   = |render(messages[:i+1])| when that rendering is a prefix of full (ChatML, Llama-3,
//           Mistral); templates that close a conversation with eos_token (Phi-3 appends it when
//           add_generation_prompt is false) have that one trailing eos_token dropped first.
// So a span covers the assistant content plus the template's end-of-turn text ("<|end|>\n"), and
// for the last turn also the closing eos_token: the model learns to stop. A template that renders
// prefixes inconsistently is an error naming the message.
// Tokenization: the text is cut at span boundaries and each piece is encoded on its own with
// add_special_tokens = false (as apply_chat_template does: the template carries BOS), so no token
// straddles a boundary. A generation prompt for turn i is ids[0, spans[i].first): the same tokens
// training saw. With a prefix-space pre-tokenizer (Metaspace prepend "always") each piece starts a
// new word, a small, consistent difference from encoding the whole text at once.
// Truncation keeps the first max_length tokens. Packing concatenates whole examples (each at most
// max_length) into sequences of at most max_length tokens, in order; packed examples share one
// causal mask and continuous positions (the trainer has no block-diagonal masking), so later
// examples attend to earlier ones.
//
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/chat_template.h"
#include "engine/parquet_column.h"
#include "engine/tokenizer.h"
#include "engine/trainer.h"

namespace kaito::engine {

struct chat_record {
  // [{role, content, ...}]: every element an object with string role and content; other keys
  // (tool_calls, name, ...) are kept for the template.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  int64_t line = 0;          // 1-based JSONL line it came from (0 when built in memory)
  bool parquet_row = false;  // it came from Parquet row line - 1 instead (errors say "row N")
  // > 0: a conversational prompt-completion record (engine/sft_dataset.h): the first
  // prompt_messages messages are the prompt, the rest the completion, and the one supervised span
  // runs from the end of render(prompt, add_generation_prompt=true) to the end of the whole
  // rendering (TRL's completion mask), whatever the roles. 0: assistant turns, as above.
  size_t prompt_messages = 0;
};

// Parses JSONL text: one record per non-blank line. invalid_argument with where = "line N" or
// "line N: messages[2].content" for malformed JSON, a missing/ill-typed field, an empty messages
// list, or a conversation without an assistant message.
result<std::vector<chat_record>> parse_chat_jsonl(std::string_view text);
// Calls fn(line text, 1-based line number) for each non-blank line of JSONL text (LF or CRLF),
// stopping at the first error.
status for_each_jsonl_line(std::string_view text,
                           const std::function<status(std::string_view, int64_t)>& fn);
// One line (line number for errors).
result<chat_record> parse_chat_record(std::string_view line_text, int64_t line);
// One parsed record: j[column] must be a messages list with an assistant message. Errors are
// "<where>: <column>[1].role" etc.
result<chat_record> chat_record_from_json(nlohmann::ordered_json j, const std::string& where,
                                          const std::string& column = "messages");
// A non-empty array of objects with string role and content; errors name "<where>: field[i].key".
status check_chat_messages(const nlohmann::ordered_json& msgs, const std::string& where,
                           const std::string& field);
// The same records from a Parquet file's `messages` column (list<struct<role, content, ...>>, as
// Hugging Face datasets stores Kaito's conversational datasets; engine/parquet_rows.h). Errors
// name the byte offset and column, or "row N: messages[2].content" (N from 0, as pyarrow counts);
// a record's line is its row + 1.
result<std::vector<chat_record>> parse_chat_parquet(std::string_view bytes,
                                                    const parquet_read_limits& limits = {});
// Where a record came from, for errors: "line N" (JSONL) or "row N" (Parquet, from 0).
std::string chat_record_place(const chat_record& rec);
// Whether bytes start with Parquet's "PAR1" magic.
bool is_parquet(std::string_view bytes);

struct chat_tokenize_options {
  int64_t max_length = 2048;  // tokens kept per example (> 0)
  std::string bos_token;      // template variables
  std::string eos_token;
};

struct chat_example {
  std::vector<int32_t> ids;
  std::vector<int32_t> labels;                          // ids on assistant spans, else -100
  std::vector<std::pair<int64_t, int64_t>> spans;       // assistant token spans [begin, end)
  std::vector<std::pair<int64_t, int64_t>> char_spans;  // the same in the rendered text
  std::string text;                                     // the rendered conversation
  bool truncated = false;
};

// One record. Errors name "line N: messages[i]" (template failure, inconsistent prefixes), or
// "line N: prompt" for a conversational prompt-completion record.
result<chat_example> tokenize_chat(const tokenizer& tok, const chat_template& tmpl,
                                   const chat_record& rec, const chat_tokenize_options& opt);

// Every record, then optional packing into sequences of at most opt.max_length tokens.
result<std::vector<train_example>> build_chat_dataset(const tokenizer& tok,
                                                      const chat_template& tmpl,
                                                      const std::vector<chat_record>& recs,
                                                      const chat_tokenize_options& opt, bool pack);

// Greedy packing of examples (each already <= max_length) in order.
std::vector<train_example> pack_examples(const std::vector<train_example>& ex, int64_t max_length);

}  // namespace kaito::engine
