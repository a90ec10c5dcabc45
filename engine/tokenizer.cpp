// The tokenizer pipeline and the tokenizer.json loader (see tokenizer.h).
#include "engine/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/tokenizer_bpe.h"
#include "engine/tokenizer_decoder.h"
#include "engine/tokenizer_json.h"
#include "engine/tokenizer_normalizer.h"
#include "engine/tokenizer_post_processor.h"
#include "engine/tokenizer_pre_tokenizer.h"
#include "engine/unicode.h"

namespace kaito::engine {

using namespace tokenizer_json;

struct tokenizer::parts {
  std::unique_ptr<tokenizer_bpe> model;
  std::unique_ptr<tokenizer_normalizer> normalizer;
  std::unique_ptr<tokenizer_pre_tokenizer> pre_tokenizer;
  std::unique_ptr<tokenizer_decoder> decoder;
  std::unique_ptr<tokenizer_post_processor> post_processor;
  tokenizer_added_vocab added;
};

tokenizer::tokenizer() : p_(std::make_unique<parts>()) {}
tokenizer::tokenizer(tokenizer&&) noexcept = default;
tokenizer& tokenizer::operator=(tokenizer&&) noexcept = default;
tokenizer::~tokenizer() = default;

namespace {

result<std::vector<added_token>> parse_added_tokens(const json& root) {
  std::vector<added_token> out;
  const json* list = member(root, "added_tokens");
  if (!list) return out;
  if (!list->is_array()) return invalid_argument("expected an array", "added_tokens");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    const std::string p = index("added_tokens", i);
    KAITO_TRY(expect_object(e, p));
    added_token t;
    KAITO_ASSIGN_OR_RETURN(t.content, get_string(e, "content", p));
    KAITO_ASSIGN_OR_RETURN(const int64_t id, get_int(e, "id", p, -1, 0, INT32_MAX));
    if (id < 0) return invalid_argument("missing id", child(p, "id"));
    t.id = static_cast<int32_t>(id);
    KAITO_ASSIGN_OR_RETURN(t.single_word, get_bool(e, "single_word", p, false));
    KAITO_ASSIGN_OR_RETURN(t.lstrip, get_bool(e, "lstrip", p, false));
    KAITO_ASSIGN_OR_RETURN(t.rstrip, get_bool(e, "rstrip", p, false));
    KAITO_ASSIGN_OR_RETURN(t.normalized, get_bool(e, "normalized", p, true));
    KAITO_ASSIGN_OR_RETURN(t.special, get_bool(e, "special", p, false));
    if (!t.content.empty()) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

result<tokenizer> tokenizer::from_json(std::string_view text) {
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return invalid_argument("tokenizer.json is not valid JSON");
  KAITO_TRY(expect_object(root, "$"));
  tokenizer t;
  const json* model = member(root, "model");
  if (!model) return invalid_argument("missing", "model");
  KAITO_ASSIGN_OR_RETURN(t.p_->model, tokenizer_bpe::parse(*model, "model"));
  if (const json* n = member(root, "normalizer")) {
    KAITO_ASSIGN_OR_RETURN(t.p_->normalizer, parse_tokenizer_normalizer(*n, "normalizer"));
  }
  if (const json* n = member(root, "pre_tokenizer")) {
    KAITO_ASSIGN_OR_RETURN(t.p_->pre_tokenizer, parse_tokenizer_pre_tokenizer(*n, "pre_tokenizer"));
  }
  if (const json* n = member(root, "decoder")) {
    KAITO_ASSIGN_OR_RETURN(t.p_->decoder, parse_tokenizer_decoder(*n, "decoder"));
  }
  if (const json* n = member(root, "post_processor")) {
    KAITO_ASSIGN_OR_RETURN(t.p_->post_processor,
                           parse_tokenizer_post_processor(*n, "post_processor"));
  }
  KAITO_ASSIGN_OR_RETURN(auto added, parse_added_tokens(root));
  KAITO_TRY(t.p_->added.build(std::move(added), t.p_->normalizer.get()));
  return t;
}

result<tokenizer> tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read tokenizer file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto t = from_json(ss.str());
  if (!t.ok()) return t.error().with_context(path);
  return t;
}

result<std::vector<int32_t>> tokenizer::encode(std::string_view raw,
                                               bool add_special_tokens) const {
  const std::string text = utf8_sanitize(raw);
  // 1. Added tokens matched on the raw text.
  std::vector<input_segment> first;
  p_->added.split(text_piece{text, 0}, /*normalized_set=*/false, first);
  // 2. Normalize the rest, then split out the normalized added tokens.
  std::vector<input_segment> segs;
  for (auto& s : first) {
    if (s.id >= 0) {
      segs.push_back(std::move(s));
      continue;
    }
    if (p_->normalizer) KAITO_TRY(p_->normalizer->normalize(s.piece.text));
    p_->added.split(s.piece, /*normalized_set=*/true, segs);
  }
  // 3. Pre-tokenize and run the model on every text segment.
  std::vector<int32_t> ids;
  for (auto& s : segs) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    std::vector<text_piece> words{std::move(s.piece)};
    if (p_->pre_tokenizer) KAITO_TRY(p_->pre_tokenizer->pre_tokenize(words));
    for (const auto& w : words) KAITO_TRY(p_->model->tokenize(w.text, ids));
  }
  // 4. Special tokens around the sequence.
  if (add_special_tokens && p_->post_processor) p_->post_processor->process(ids);
  return ids;
}

result<std::string> tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens,
                                      const std::vector<int32_t>& keep) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const bool skip_special =
        skip_special_tokens && std::find(keep.begin(), keep.end(), id) == keep.end();
    if (const added_token* a = p_->added.find_by_id(id)) {
      if (skip_special && a->special) continue;
      tokens.push_back(a->surface);
    } else if (const std::string* s = p_->model->id_to_token(id)) {
      // A model token whose text is a special added token is skipped too (HF compares strings).
      if (skip_special) {
        const added_token* by_text = p_->added.find_by_content(*s);
        if (by_text && by_text->special) continue;
      }
      tokens.push_back(*s);
    }
  }
  if (!p_->decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  KAITO_TRY(p_->decoder->decode_chain(tokens));
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<int32_t> tokenizer::token_to_id(std::string_view token) const {
  if (const added_token* a = p_->added.find_by_content(token)) return a->id;
  return p_->model->token_to_id(token);
}

std::optional<std::string> tokenizer::id_to_token(int32_t id) const {
  if (const added_token* a = p_->added.find_by_id(id)) return a->surface;
  if (const std::string* s = p_->model->id_to_token(id)) return *s;
  return std::nullopt;
}

size_t tokenizer::vocab_size() const {
  size_t n = p_->model->vocab_size();
  for (const auto& a : p_->added.tokens())
    if (!p_->model->token_to_id(a.content)) ++n;
  return n;
}

bool tokenizer::is_special(int32_t id) const {
  const added_token* a = p_->added.find_by_id(id);
  return a && a->special;
}

std::vector<added_token> tokenizer::special_tokens() const {
  std::vector<added_token> out;
  for (const auto& a : p_->added.tokens())
    if (a.special) out.push_back(a);
  return out;
}

}  // namespace kaito::engine
