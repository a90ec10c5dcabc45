// token_filter; see token_filter.h.
#include "engine/token_filter.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/tokenizer_stream.h"

namespace kaito::engine {

std::shared_ptr<const vocab_bytes> vocab_bytes::from_tokenizer(const tokenizer& tok,
                                                               int64_t vocab) {
  auto out = std::make_shared<vocab_bytes>();
  const auto V = static_cast<size_t>(std::max<int64_t>(vocab, 0));
  out->special.assign(V, false);
  // An ordinary token to decode after: "a" when the tokenizer has it as one token, else none.
  int32_t before = -1;
  if (auto a = tok.encode("a", false); a.ok() && a->size() == 1) before = (*a)[0];
  std::vector<int32_t> ids(V);
  for (size_t i = 0; i < V; ++i) {
    ids[i] = static_cast<int32_t>(i);
    out->special[i] = tok.is_special(static_cast<int32_t>(i)) || !tok.id_to_token(ids[i]);
  }
  out->text = token_texts_after(tok, before, ids);
  out->plain_of();
  return out;
}

void vocab_bytes::plain_of() {
  plain.assign(text.size(), false);
  for (size_t i = 0; i < text.size(); ++i)
    plain[i] = std::none_of(text[i].begin(), text[i].end(), [](char ch) {
      const auto c = static_cast<unsigned char>(ch);
      return c == '"' || c == '\\' || c < 0x20;
    });
}

json_token_filter::json_token_filter(std::shared_ptr<const vocab_bytes> vocab,
                                     std::vector<int32_t> end_tokens)
    : vocab_(std::move(vocab)), end_(std::move(end_tokens)) {}

bool json_token_filter::is_end(int32_t id) const {
  return std::find(end_.begin(), end_.end(), id) != end_.end();
}

void json_token_filter::mask(std::vector<float>& logits) const {
  const size_t V = std::min(logits.size(), vocab_->text.size());
  const bool whole = state_.complete();
  const bool plain_string = state_.in_plain_string() && vocab_->plain.size() == vocab_->text.size();
  bool any = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    bool ok = false;
    if (is_end(id)) {
      ok = whole;
    } else if (i < V && !vocab_->special[i] && !vocab_->text[i].empty()) {
      if (plain_string && vocab_->plain[i]) {
        ok = true;  // (it only extends the string)
      } else {
        json_prefix p = state_;
        ok = p.feed(vocab_->text[i]);
      }
    }
    if (ok)
      any = true;
    else
      logits[i] = -INFINITY;
  }
  if (any) return;
  for (int32_t id : end_)  // nothing can continue: let it end
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] = 0.0f;
}

void json_token_filter::advance(int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->text.size() || is_end(id)) return;
  (void)state_.feed(vocab_->text[static_cast<size_t>(id)]);
}

void min_tokens_filter::mask(std::vector<float>& logits) const {
  if (inner_) inner_->mask(logits);
  if (drawn_ >= min_) return;
  // the stop ids go only when some other token stays allowed (no copy of the V logits per step)
  const auto is_stop = [&](size_t i) {
    return std::find(stops_.begin(), stops_.end(), static_cast<int32_t>(i)) != stops_.end();
  };
  bool other = false;
  for (size_t i = 0; i < logits.size() && !other; ++i) other = logits[i] > -INFINITY && !is_stop(i);
  if (!other) return;
  for (int32_t id : stops_)
    if (id >= 0 && static_cast<size_t>(id) < logits.size())
      logits[static_cast<size_t>(id)] = -INFINITY;
}

void min_tokens_filter::advance(int32_t id) {
  if (inner_) inner_->advance(id);
  ++drawn_;
}

}  // namespace kaito::engine
