// Incremental detokenization (see tokenizer_stream.h); mirrors tokenizers' step_decode_stream.
#include "engine/tokenizer_stream.h"

namespace kaito::engine {

result<std::optional<std::string>> tokenizer_decode_stream::step(int32_t id) {
  ids_.push_back(id);
  KAITO_ASSIGN_OR_RETURN(std::string text, tok_->decode(ids_, skip_special_));
  static const std::string replacement = "\xEF\xBF\xBD";
  const bool ends_incomplete =
      text.size() >= 3 && text.compare(text.size() - 3, 3, replacement) == 0;
  if (text.size() <= prefix_.size() || ends_incomplete) return std::optional<std::string>();
  if (text.compare(0, prefix_.size(), prefix_) != 0)
    return internal_error("decoded text no longer extends the previous prefix");
  std::string fresh = text.substr(prefix_.size());
  const size_t new_prefix_index = ids_.size() - prefix_index_;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  KAITO_ASSIGN_OR_RETURN(prefix_, tok_->decode(ids_, skip_special_));
  prefix_index_ = new_prefix_index;
  return std::optional<std::string>(std::move(fresh));
}

std::string token_text_after(const tokenizer& tok, int32_t before, int32_t id) {
  if (before >= 0) {
    auto a = tok.decode({before}, false), ab = tok.decode({before, id}, false);
    if (a.ok() && ab.ok() && ab->compare(0, a->size(), *a) == 0) return ab->substr(a->size());
  }
  auto alone = tok.decode({id}, false);
  return alone.ok() ? std::move(*alone) : std::string();
}

}  // namespace kaito::engine
