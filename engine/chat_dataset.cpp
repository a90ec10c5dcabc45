// Chat records to assistant-only training examples (see chat_dataset.h).
#include "engine/chat_dataset.h"

#include <algorithm>

#include "engine/parquet_rows.h"

namespace kaito::engine {

namespace {

std::string at(int64_t line, const std::string& field = {}) {
  std::string w = "line " + std::to_string(line);
  return field.empty() ? w : w + ": " + field;
}

std::string at(const chat_record& rec, const std::string& field = {}) {
  const std::string w = chat_record_place(rec);
  return field.empty() ? w : w + ": " + field;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

result<std::string> render(const chat_template& tmpl, const nlohmann::ordered_json& msgs, size_t n,
                           bool gen, const chat_tokenize_options& opt, const std::string& where) {
  chat_template_inputs in;
  in.messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i < n; ++i) in.messages.push_back(msgs[i]);
  in.add_generation_prompt = gen;
  in.bos_token = opt.bos_token;
  in.eos_token = opt.eos_token;
  auto r = tmpl.render(in);
  if (!r.ok()) return status(r.error().code(), "chat template: " + r.error().to_string(), where);
  return r;
}

}  // namespace

status check_chat_messages(const nlohmann::ordered_json& msgs, const std::string& where,
                           const std::string& field) {
  auto in = [&](const std::string& f) { return where + ": " + f; };
  if (!msgs.is_array()) return invalid_argument("must be an array", in(field));
  if (msgs.empty()) return invalid_argument("must not be empty", in(field));
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    const std::string f = field + "[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid_argument("must be an object", in(f));
    for (const char* key : {"role", "content"}) {
      auto k = m.find(key);
      if (k == m.end()) return invalid_argument("missing", in(f + "." + key));
      if (!k->is_string()) return invalid_argument("must be a string", in(f + "." + key));
    }
  }
  return {};
}

result<chat_record> chat_record_from_json(nlohmann::ordered_json j, const std::string& where,
                                          const std::string& column) {
  auto in = [&](const std::string& field) { return where + ": " + field; };
  if (!j.is_object()) return invalid_argument("a record must be a JSON object", where);
  auto it = j.find(column);
  if (it == j.end()) return invalid_argument("missing", in(column));
  KAITO_TRY(check_chat_messages(*it, where, column));
  bool has_assistant = false;
  for (const auto& m : *it) has_assistant = has_assistant || m["role"] == "assistant";
  if (!has_assistant) return invalid_argument("no assistant message", in(column));
  chat_record rec;
  rec.messages = std::move(*it);
  return rec;
}

result<chat_record> parse_chat_record(std::string_view line_text, int64_t line) {
  auto j = nlohmann::ordered_json::parse(line_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("not valid JSON", at(line));
  KAITO_ASSIGN_OR_RETURN(chat_record rec, chat_record_from_json(std::move(j), at(line)));
  rec.line = line;
  return rec;
}

result<std::vector<chat_record>> parse_chat_parquet(std::string_view bytes,
                                                    const parquet_read_limits& limits) {
  KAITO_ASSIGN_OR_RETURN(std::vector<nlohmann::ordered_json> rows,
                         parquet_read_rows(bytes, {"messages"}, limits));
  std::vector<chat_record> out;
  out.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    KAITO_ASSIGN_OR_RETURN(chat_record rec,
                           chat_record_from_json(std::move(rows[i]), "row " + std::to_string(i)));
    rec.line = int64_t(i) + 1;
    rec.parquet_row = true;
    out.push_back(std::move(rec));
  }
  return out;
}

std::string chat_record_place(const chat_record& rec) {
  return rec.parquet_row ? "row " + std::to_string(rec.line - 1) : at(rec.line);
}

bool is_parquet(std::string_view bytes) {
  return bytes.size() >= 4 && bytes.substr(0, 4) == "PAR1";
}

status for_each_jsonl_line(std::string_view text,
                           const std::function<status(std::string_view, int64_t)>& fn) {
  int64_t line = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line;
    if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    KAITO_TRY(fn(l, line));
  }
  return {};
}

result<std::vector<chat_record>> parse_chat_jsonl(std::string_view text) {
  std::vector<chat_record> out;
  KAITO_TRY(for_each_jsonl_line(text, [&](std::string_view l, int64_t line) -> status {
    KAITO_ASSIGN_OR_RETURN(chat_record rec, parse_chat_record(l, line));
    out.push_back(std::move(rec));
    return {};
  }));
  return out;
}

result<chat_example> tokenize_chat(const tokenizer& tok, const chat_template& tmpl,
                                   const chat_record& rec, const chat_tokenize_options& opt) {
  if (opt.max_length <= 0) return invalid_argument("must be positive", "max_length");
  const auto& msgs = rec.messages;
  chat_example ex;
  KAITO_ASSIGN_OR_RETURN(ex.text, render(tmpl, msgs, msgs.size(), false, opt, at(rec)));
  const std::string& full = ex.text;
  if (rec.prompt_messages > 0) {  // conversational prompt-completion: all after the prompt
    if (rec.prompt_messages >= msgs.size())
      return invalid_argument("must not be empty", at(rec, "completion"));
    KAITO_ASSIGN_OR_RETURN(std::string p,
                           render(tmpl, msgs, rec.prompt_messages, true, opt, at(rec, "prompt")));
    if (!starts_with(full, p))
      return invalid_argument(
          "the template's rendering of the prompt (with the generation prompt) is not a prefix "
          "of the rendering of prompt + completion",
          at(rec, "prompt"));
    ex.char_spans.emplace_back(static_cast<int64_t>(p.size()), static_cast<int64_t>(full.size()));
  }
  size_t prev_end = 0;
  for (size_t i = 0; i < msgs.size() && rec.prompt_messages == 0; ++i) {
    if (msgs[i]["role"] != "assistant") continue;
    const std::string f = "messages[" + std::to_string(i) + "]";
    KAITO_ASSIGN_OR_RETURN(std::string p, render(tmpl, msgs, i, true, opt, at(rec, f)));
    KAITO_ASSIGN_OR_RETURN(std::string q, render(tmpl, msgs, i + 1, false, opt, at(rec, f)));
    if (!starts_with(full, p) || p.size() < prev_end)
      return invalid_argument(
          "the template's rendering of the messages before it (with the "
          "generation prompt) is not a prefix of the whole conversation",
          at(rec, f));
    if (!starts_with(full, q) && !opt.eos_token.empty() && q.size() >= opt.eos_token.size() &&
        q.compare(q.size() - opt.eos_token.size(), std::string::npos, opt.eos_token) == 0)
      q.resize(q.size() - opt.eos_token.size());
    if (!starts_with(full, q) || q.size() < p.size())
      return invalid_argument(
          "the template's rendering up to this message is not a prefix of "
          "the whole conversation",
          at(rec, f));
    ex.char_spans.emplace_back(static_cast<int64_t>(p.size()), static_cast<int64_t>(q.size()));
    prev_end = q.size();
  }
  // Encode the pieces between boundaries one by one.
  size_t cursor = 0;
  auto encode_piece = [&](size_t b, size_t e, bool learn) -> status {
    if (e <= b) return {};
    auto ids = tok.encode(std::string_view(full).substr(b, e - b), /*add_special_tokens=*/false);
    if (!ids.ok()) return status(ids.error().code(), ids.error().to_string(), at(rec));
    for (int32_t id : ids.value()) {
      ex.ids.push_back(id);
      ex.labels.push_back(learn ? id : -100);
    }
    return {};
  };
  for (const auto& [b, e] : ex.char_spans) {
    KAITO_TRY(encode_piece(cursor, static_cast<size_t>(b), false));
    const int64_t tb = static_cast<int64_t>(ex.ids.size());
    KAITO_TRY(encode_piece(static_cast<size_t>(b), static_cast<size_t>(e), true));
    ex.spans.emplace_back(tb, static_cast<int64_t>(ex.ids.size()));
    cursor = static_cast<size_t>(e);
  }
  KAITO_TRY(encode_piece(cursor, full.size(), false));
  if (static_cast<int64_t>(ex.ids.size()) > opt.max_length) {
    ex.ids.resize(static_cast<size_t>(opt.max_length));
    ex.labels.resize(static_cast<size_t>(opt.max_length));
    ex.truncated = true;
    for (auto& [b, e] : ex.spans) {
      b = std::min(b, opt.max_length);
      e = std::min(e, opt.max_length);
    }
  }
  return ex;
}

std::vector<train_example> pack_examples(const std::vector<train_example>& ex, int64_t max_length) {
  std::vector<train_example> out;
  for (const train_example& e : ex) {
    if (out.empty() || static_cast<int64_t>(out.back().ids.size() + e.ids.size()) > max_length)
      out.emplace_back();
    train_example& p = out.back();
    p.ids.insert(p.ids.end(), e.ids.begin(), e.ids.end());
    p.labels.insert(p.labels.end(), e.labels.begin(), e.labels.end());
  }
  return out;
}

result<std::vector<train_example>> build_chat_dataset(const tokenizer& tok,
                                                      const chat_template& tmpl,
                                                      const std::vector<chat_record>& recs,
                                                      const chat_tokenize_options& opt, bool pack) {
  std::vector<train_example> out;
  for (const chat_record& r : recs) {
    KAITO_ASSIGN_OR_RETURN(chat_example ex, tokenize_chat(tok, tmpl, r, opt));
    out.push_back(train_example{std::move(ex.ids), std::move(ex.labels)});
  }
  if (pack) return pack_examples(out, opt.max_length);
  return out;
}

}  // namespace kaito::engine
