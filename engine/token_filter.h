// token_filter: constrained generation. Before each draw the filter sets the logits of tokens
// that may not come next to -inf; after it, the drawn token advances its state. generate() and
// batch_generator apply it to a copy of the logits (step_logits and logprobs stay the model's, as
// vLLM's raw logprobs), so sampling draws from the allowed tokens only.
//
//   auto vocab = vocab_bytes::from_tokenizer(tok);                 // once per model
//   opt.filter = std::make_shared<json_token_filter>(vocab, end_tokens);
//
// json_token_filter (response_format {"type": "json_object"}): the answer's text stays a prefix
// of one JSON object (json_prefix.h); an end token is allowed only once the object is whole
// (then only whitespace, bounded, or an end token), special tokens and tokens that add no text
// never. When no token is allowed (a vocabulary that cannot continue), the end tokens are.
// Cost: one pass over the vocabulary per step, each token's bytes fed to a copy of the state
// (~1 ms for 32k tokens on one core; batch_generator draws answers in parallel).
//
// Thread-safety: a filter belongs to one generation (not shared); vocab_bytes is read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/json_prefix.h"
#include "engine/tokenizer.h"

namespace kaito::engine {

class token_filter {
 public:
  virtual ~token_filter() = default;
  // logits: V floats; those of tokens that may not come next become -inf.
  virtual void mask(std::vector<float>& logits) const = 0;
  // `id` was drawn.
  virtual void advance(int32_t id) = 0;
};

// The bytes each token id adds to a text (the tokenizer's decoding of it after an ordinary
// token, so SentencePiece's leading space stays), and which ids are special.
struct vocab_bytes {
  std::vector<std::string> text;
  std::vector<bool> special;
  // the text holds no '"', '\\' or control character (it only extends a JSON string); made by
  // plain_of, which from_tokenizer calls (a hand-made table calls it too)
  std::vector<bool> plain;
  void plain_of();
  static std::shared_ptr<const vocab_bytes> from_tokenizer(const tokenizer& tok, int64_t vocab);
};

class json_token_filter final : public token_filter {
 public:
  json_token_filter(std::shared_ptr<const vocab_bytes> vocab, std::vector<int32_t> end_tokens);
  void mask(std::vector<float>& logits) const override;
  void advance(int32_t id) override;
  const json_prefix& state() const { return state_; }

 private:
  bool is_end(int32_t id) const;
  std::shared_ptr<const vocab_bytes> vocab_;
  std::vector<int32_t> end_;
  json_prefix state_{/*object_only=*/true};
};

// vLLM's min_tokens: the stop tokens (end tokens, stop_token_ids) may not come before `min`
// tokens were drawn; `inner` (may be null: json_token_filter) masks first. Where that leaves no
// token at all, the stop tokens stay allowed.
class min_tokens_filter final : public token_filter {
 public:
  min_tokens_filter(std::vector<int32_t> stops, int64_t min, std::shared_ptr<token_filter> inner)
      : stops_(std::move(stops)), min_(min), inner_(std::move(inner)) {}
  void mask(std::vector<float>& logits) const override;
  void advance(int32_t id) override;

 private:
  std::vector<int32_t> stops_;
  int64_t min_, drawn_ = 0;
  std::shared_ptr<token_filter> inner_;
};

}  // namespace kaito::engine
