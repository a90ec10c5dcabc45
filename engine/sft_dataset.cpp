// SFTTrainer's dataset formats to training examples (see sft_dataset.h).
#include "engine/sft_dataset.h"

#include <algorithm>
#include <cctype>

#include "engine/csv_rows.h"
#include "engine/parquet_metadata.h"
#include "engine/parquet_rows.h"

namespace kaito::engine {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), std::string::npos, suffix) == 0;
}

// Where a format's records first differ: the field a record of that format must have.
std::string format_field(sft_format f, const sft_columns& c) {
  switch (f) {
    case sft_format::messages:
      return c.messages;
    case sft_format::conversational_prompt_completion:
    case sft_format::prompt_completion:
      return c.prompt;
    case sft_format::text:
      return c.text;
  }
  return c.messages;
}

result<sft_format> detect_format(const nlohmann::ordered_json& j, const std::string& where,
                                 const sft_columns& c, const sft_format* file_format) {
  if (j.contains(c.messages)) return sft_format::messages;
  if (j.contains(c.prompt) || j.contains(c.completion)) {
    const auto& p = j.contains(c.prompt) ? j[c.prompt] : j[c.completion];
    return p.is_array() ? sft_format::conversational_prompt_completion
                        : sft_format::prompt_completion;
  }
  if (j.contains(c.text)) return sft_format::text;
  if (file_format) return invalid_argument("missing", where + ": " + format_field(*file_format, c));
  return invalid_argument("no " + c.messages + ", " + c.prompt + " + " + c.completion + " or " +
                              c.text + " field (TRL's dataset formats)",
                          where);
}

void set_place(sft_record& rec, int64_t line, bool row) {
  rec.chat.line = line;
  rec.chat.parquet_row = row;
}

// Records of one file, each checked against the first one's format.
class record_list {
 public:
  record_list(const sft_columns& c) : cols_(c) {}
  status add(nlohmann::ordered_json j, int64_t line, bool row) {
    const std::string where =
        row ? "row " + std::to_string(line - 1) : "line " + std::to_string(line);
    const sft_format* first = out_.empty() ? nullptr : &out_.front().format;
    KAITO_ASSIGN_OR_RETURN(sft_record rec, sft_record_from_json(std::move(j), where, cols_, first));
    set_place(rec, line, row);
    out_.push_back(std::move(rec));
    return {};
  }
  std::vector<sft_record> take() { return std::move(out_); }

 private:
  const sft_columns& cols_;
  std::vector<sft_record> out_;
};

void truncate(chat_example& ex, int64_t max_length) {
  if (static_cast<int64_t>(ex.ids.size()) <= max_length) return;
  ex.ids.resize(static_cast<size_t>(max_length));
  ex.labels.resize(static_cast<size_t>(max_length));
  ex.truncated = true;
  for (auto& [b, e] : ex.spans) {
    b = std::min(b, max_length);
    e = std::min(e, max_length);
  }
}

}  // namespace

const char* sft_format_name(sft_format f) {
  switch (f) {
    case sft_format::messages:
      return "messages";
    case sft_format::conversational_prompt_completion:
      return "conversational prompt-completion";
    case sft_format::prompt_completion:
      return "prompt-completion";
    case sft_format::text:
      return "text";
  }
  return "?";
}

result<sft_record> sft_record_from_json(nlohmann::ordered_json j, const std::string& where,
                                        const sft_columns& c, const sft_format* file_format) {
  auto in = [&](const std::string& field) { return where + ": " + field; };
  if (!j.is_object()) return invalid_argument("a record must be a JSON object", where);
  sft_record rec;
  KAITO_ASSIGN_OR_RETURN(rec.format, detect_format(j, where, c, file_format));
  if (file_format && rec.format != *file_format)
    return invalid_argument(std::string("a ") + sft_format_name(rec.format) +
                                " record in a file of " + sft_format_name(*file_format) +
                                " records (told by its first record)",
                            where);
  switch (rec.format) {
    case sft_format::messages: {
      KAITO_ASSIGN_OR_RETURN(rec.chat, chat_record_from_json(std::move(j), where, c.messages));
      break;
    }
    case sft_format::conversational_prompt_completion: {
      for (const std::string* f : {&c.prompt, &c.completion}) {
        if (!j.contains(*f)) return invalid_argument("missing", in(*f));
        KAITO_TRY(check_chat_messages(j[*f], where, *f));
      }
      rec.chat.messages = std::move(j[c.prompt]);
      rec.chat.prompt_messages = rec.chat.messages.size();
      for (auto& m : j[c.completion]) rec.chat.messages.push_back(std::move(m));
      break;
    }
    case sft_format::prompt_completion: {
      for (const std::string* f : {&c.prompt, &c.completion}) {
        if (!j.contains(*f)) return invalid_argument("missing", in(*f));
        if (!j[*f].is_string())
          return invalid_argument("must be a string (or, in every record, a messages list)",
                                  in(*f));
      }
      rec.prompt = j[c.prompt].get<std::string>();
      rec.completion = j[c.completion].get<std::string>();
      break;
    }
    case sft_format::text: {
      if (!j[c.text].is_string()) return invalid_argument("must be a string", in(c.text));
      rec.text = j[c.text].get<std::string>();
      break;
    }
  }
  return rec;
}

result<std::vector<sft_record>> parse_sft_jsonl(std::string_view text, const sft_columns& cols) {
  record_list out(cols);
  KAITO_TRY(for_each_jsonl_line(text, [&](std::string_view l, int64_t line) -> status {
    auto j = nlohmann::ordered_json::parse(l, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return invalid_argument("not valid JSON", "line " + std::to_string(line));
    return out.add(std::move(j), line, false);
  }));
  return out.take();
}

result<std::vector<sft_record>> parse_sft_json_array(std::string_view text,
                                                     const sft_columns& cols) {
  nlohmann::ordered_json arr;
  try {
    arr = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::ordered_json::parse_error& e) {
    return invalid_argument("not valid JSON", "byte " + std::to_string(e.byte));
  }
  if (!arr.is_array()) return invalid_argument("want a JSON array of records", "byte 0");
  record_list out(cols);
  for (size_t i = 0; i < arr.size(); ++i)
    KAITO_TRY(out.add(std::move(arr[i]), int64_t(i) + 1, true));
  return out.take();
}

result<std::vector<sft_record>> parse_sft_parquet(std::string_view bytes, const sft_columns& cols,
                                                  const parquet_read_limits& limits) {
  KAITO_ASSIGN_OR_RETURN(parquet_metadata meta, parquet_read_metadata(bytes));
  const std::vector<std::string> have = meta.columns();
  auto has = [&](const std::string& c) {
    return std::find(have.begin(), have.end(), c) != have.end();
  };
  std::vector<std::string> read;
  if (has(cols.messages)) {
    read = {cols.messages};
  } else if (has(cols.prompt) || has(cols.completion)) {
    for (const std::string* c : {&cols.prompt, &cols.completion})
      if (has(*c)) read.push_back(*c);
  } else if (has(cols.text)) {
    read = {cols.text};
  } else {
    std::string list;
    for (const std::string& c : have) list += (list.empty() ? "" : ", ") + c;
    return invalid_argument("no " + cols.messages + ", " + cols.prompt + " + " + cols.completion +
                                " or " + cols.text + " column (the file has: " + list + ")",
                            "columns");
  }
  KAITO_ASSIGN_OR_RETURN(std::vector<nlohmann::ordered_json> rows,
                         parquet_read_rows(bytes, read, limits));
  record_list out(cols);
  for (size_t i = 0; i < rows.size(); ++i)
    KAITO_TRY(out.add(std::move(rows[i]), int64_t(i) + 1, true));
  return out.take();
}

result<std::vector<sft_record>> parse_sft_csv(std::string_view text, const sft_columns& cols) {
  KAITO_ASSIGN_OR_RETURN(csv_table t, parse_csv(text));
  record_list out(cols);
  for (size_t i = 0; i < t.rows.size(); ++i) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (size_t c = 0; c < t.header.size(); ++c) j[t.header[c]] = std::move(t.rows[i][c]);
    KAITO_TRY(out.add(std::move(j), t.lines[i], false));
  }
  return out.take();
}

bool is_csv_name(std::string_view path) {
  if (path.size() < 4) return false;
  std::string ext(path.substr(path.size() - 4));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".csv";
}

result<std::vector<sft_record>> parse_sft_data(std::string_view bytes, const sft_columns& cols) {
  if (is_parquet(bytes)) return parse_sft_parquet(bytes, cols);
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && bytes[first] == '[')
    return parse_sft_json_array(bytes, cols);
  return parse_sft_jsonl(bytes, cols);
}

result<chat_example> tokenize_sft(const tokenizer& tok, const chat_template& tmpl,
                                  const sft_record& rec, const chat_tokenize_options& opt) {
  if (rec.format == sft_format::messages ||
      rec.format == sft_format::conversational_prompt_completion)
    return tokenize_chat(tok, tmpl, rec.chat, opt);
  if (opt.max_length <= 0) return invalid_argument("must be positive", "max_length");
  const std::string where = chat_record_place(rec.chat);
  const std::string& eos = opt.eos_token;
  chat_example ex;
  if (rec.format == sft_format::text) {
    ex.text = ends_with(rec.text, eos) ? rec.text : rec.text + eos;
    auto ids = tok.encode(ex.text, /*add_special_tokens=*/true);
    if (!ids.ok()) return status(ids.error().code(), ids.error().to_string(), where);
    ex.ids = std::move(ids).value();
    ex.labels = ex.ids;
    ex.spans.emplace_back(0, static_cast<int64_t>(ex.ids.size()));
    ex.char_spans.emplace_back(0, static_cast<int64_t>(ex.text.size()));
  } else {
    const std::string completion =
        ends_with(rec.completion, eos) ? rec.completion : rec.completion + eos;
    ex.text = rec.prompt + completion;
    auto ids = tok.encode(ex.text, /*add_special_tokens=*/true);
    if (!ids.ok()) return status(ids.error().code(), ids.error().to_string(), where);
    auto prompt = tok.encode(rec.prompt, /*add_special_tokens=*/true);
    if (!prompt.ok()) return status(prompt.error().code(), prompt.error().to_string(), where);
    ex.ids = std::move(ids).value();
    ex.labels = ex.ids;
    const size_t begin = std::min(prompt->size(), ex.ids.size());
    std::fill(ex.labels.begin(), ex.labels.begin() + std::ptrdiff_t(begin), -100);
    ex.spans.emplace_back(static_cast<int64_t>(begin), static_cast<int64_t>(ex.ids.size()));
    ex.char_spans.emplace_back(static_cast<int64_t>(rec.prompt.size()),
                               static_cast<int64_t>(ex.text.size()));
  }
  truncate(ex, opt.max_length);
  return ex;
}

}  // namespace kaito::engine
