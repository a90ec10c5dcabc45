// sft_dataset: the dataset formats TRL's SFTTrainer takes (and so Kaito's tuning, which hands its
// dataset to SFTTrainer untouched), read from JSONL, a JSON array or Parquet, and turned into
// trainer examples. The format is told per file from the first record's fields, as TRL tells it
// from the dataset's columns; a record of another format later in the file is an error naming it.
//   messages                {"messages": [{"role", "content"}, ...]}: engine/chat_dataset.h,
//                           byte for byte (assistant turns supervised).
//   conversational prompt-  {"prompt": [messages], "completion": [messages]}: rendered with the
//   completion              chat template; the span from the end of render(prompt,
//                           add_generation_prompt=true) to the end of render(prompt + completion)
//                           is supervised (TRL's completion_only_loss), cut and encoded in pieces
//                           as chat_dataset does (chat_record::prompt_messages).
//   prompt-completion       {"prompt": "...", "completion": "..."}: eos_token appended to the
//                           completion unless it ends with it (TRL's add_eos); loss on the
//                           completion tokens only.
//   language modeling       {"text": "..."}: eos_token appended unless present; encoded with the
//                           tokenizer's special tokens (a BOS where the post-processor adds one);
//                           every token supervised.
// A record with a messages field is a messages record; else one with prompt or completion is a
// prompt-completion record (both required); else one with text. Column names come from
// sft_columns (TrainingArguments.dataset_text_field, DatasetConfig.messages_column / context_column
// / response_column in actors/training_config.h).
//
// Prompt-completion boundary: as TRL. ids = encode(prompt + completion + eos) with special
// tokens, labels -100 over the first len(encode(prompt)) of them (with special tokens too). Where
// a BPE merge crosses the boundary, encode(prompt) is not a prefix of ids and the mask is off by
// that token (TRL warns and does the same). We chose this over encoding the two pieces apart (as
// chat_dataset does at template boundaries, where a special token usually sits) because for
// SentencePiece-style tokenizers (Phi-3, Llama-2, Mistral: a "▁" prepended to every encoded
// piece) a separately encoded completion would start with a space the data does not have, so the
// model would train on other text than TRL's. The boundary is exact whenever no token crosses it:
// the completion carries the space before its first word (prompt "Answer:", completion " four";
// a prompt ending in that space is the bad case), or the prompt ends in a newline the tokenizer
// keeps apart.
//
// Files: Parquet by its PAR1 magic; a file whose first non-blank byte is '[' is one JSON array of
// records (Hugging Face's json loader takes both); a name ending in .csv is CSV (parse_sft_csv,
// chosen by the caller); anything else is JSONL (blank lines skipped).
// Parquet reads the columns of the detected format only: `messages` (list<struct>), `prompt` and
// `completion` (strings, or list<struct> for conversational data), or `text` (string).
// Errors: invalid_argument naming "line N: completion" (JSONL, from 1), "row N: text" (Parquet
// and JSON arrays, from 0, as pyarrow and Python count), "byte N" for a JSON array that does not
// parse. Records are never dropped silently.
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/chat_dataset.h"

namespace kaito::engine {

enum class sft_format { messages, conversational_prompt_completion, prompt_completion, text };
// "messages", "conversational prompt-completion", "prompt-completion", "text"
const char* sft_format_name(sft_format f);

// The record fields (Parquet columns) each format reads.
struct sft_columns {
  std::string messages = "messages";
  std::string prompt = "prompt";
  std::string completion = "completion";
  std::string text = "text";  // SFTConfig dataset_text_field
};

struct sft_record {
  sft_format format = sft_format::messages;
  // messages, and conversational prompt-completion (chat.prompt_messages > 0); for every format
  // chat.line / chat.parquet_row say where the record came from (chat_record_place).
  chat_record chat;
  std::string prompt, completion;  // prompt-completion
  std::string text;                // text
};

// One parsed JSON record at `where` ("line 3", "row 3"); `file_format` is the format of the file's
// first record (nullptr for the first record itself): a record of another format is an error.
result<sft_record> sft_record_from_json(nlohmann::ordered_json j, const std::string& where,
                                        const sft_columns& cols, const sft_format* file_format);

result<std::vector<sft_record>> parse_sft_jsonl(std::string_view text,
                                                const sft_columns& cols = {});
result<std::vector<sft_record>> parse_sft_json_array(std::string_view text,
                                                     const sft_columns& cols = {});
result<std::vector<sft_record>> parse_sft_parquet(std::string_view bytes,
                                                  const sft_columns& cols = {},
                                                  const parquet_read_limits& limits = {});
// A CSV file (engine/csv_rows.h) with a header naming the columns: prompt-completion or text
// records (a messages column would be a string, not a list, and is refused); errors name
// "line N" (the line the row starts on).
result<std::vector<sft_record>> parse_sft_csv(std::string_view text, const sft_columns& cols = {});
// Whether a file name says CSV (".csv", any case): CSV is told by name, as HF's loader does.
bool is_csv_name(std::string_view path);
// By content: Parquet, a JSON array, or JSONL (see above).
result<std::vector<sft_record>> parse_sft_data(std::string_view bytes,
                                               const sft_columns& cols = {});

// One record: ids, labels (-100 where not supervised), spans. Errors name the record's place.
result<chat_example> tokenize_sft(const tokenizer& tok, const chat_template& tmpl,
                                  const sft_record& rec, const chat_tokenize_options& opt);

}  // namespace kaito::engine
