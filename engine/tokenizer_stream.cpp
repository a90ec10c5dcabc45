// Incremental detokenization (see tokenizer_stream.h); mirrors tokenizers' step_decode_stream.
#include "engine/tokenizer_stream.h"

namespace kaito::engine {

result<std::optional<std::string>> tokenizer_decode_stream::step(int32_t id) {
  ids_.push_back(id);
  KAITO_ASSIGN_OR_RETURN(std::string text, tok_->decode(ids_, skip_special_, keep_));
  static const std::string replacement = "\xEF\xBF\xBD";
  const bool ends_incomplete =
      text.size() >= 3 && text.compare(text.size() - 3, 3, replacement) == 0;
  if (text.size() <= prefix_.size() || ends_incomplete) return std::optional<std::string>();
  if (text.compare(0, prefix_.size(), prefix_) != 0)
    return internal_error("decoded text no longer extends the previous prefix");
  std::string fresh = text.substr(prefix_.size());
  const size_t new_prefix_index = ids_.size() - prefix_index_;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  KAITO_ASSIGN_OR_RETURN(prefix_, tok_->decode(ids_, skip_special_, keep_));
  prefix_index_ = new_prefix_index;
  return std::optional<std::string>(std::move(fresh));
}

std::vector<std::string> token_texts_after(const tokenizer& tok, int32_t before,
                                           const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  const auto a = before >= 0 ? tok.decode({before}, false) : result<std::string>(std::string());
  for (int32_t id : ids) {
    if (before >= 0 && a.ok()) {
      auto ab = tok.decode({before, id}, false);
      if (ab.ok() && ab->compare(0, a->size(), *a) == 0) {
        out.push_back(ab->substr(a->size()));
        continue;
      }
    }
    auto alone = tok.decode({id}, false);
    out.push_back(alone.ok() ? std::move(*alone) : std::string());
  }
  return out;
}

std::string token_text_after(const tokenizer& tok, int32_t before, int32_t id) {
  return token_texts_after(tok, before, {id}).front();
}

}  // namespace kaito::engine
