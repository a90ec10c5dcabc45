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
// schema_token_filter (response_format {"type": "json_schema"}, vLLM's guided_json): the same,
// with the text kept a prefix of a value the schema admits (schema_matcher.h), the end token
// allowed once it is one.
// Cost per step: a walk of the vocabulary's byte trie, one copy of the state per node it enters
// (a byte the state refuses rules out every token below it at once); inside a string the plain
// tokens pass without a walk (batch_generator draws answers in parallel). kaito_sampling_bench
// times it against a draw.
//
// Thread-safety: a filter belongs to one generation (not shared); vocab_bytes is read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/json_prefix.h"
#include "engine/json_schema.h"
#include "engine/schema_matcher.h"
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
  // Made by index(), which from_tokenizer calls (a hand-made table calls it too): the
  // ordinary, non-empty tokens' texts as a byte trie (node 0 the root; children in byte order,
  // linked as siblings; the ids ending at a node are trie_ids[ids_begin, ids_end), those below
  // it, itself included, trie_ids[sub_begin, sub_end)); below_plain: no byte below the node is
  // '"', '\\' or a control character (inside a JSON string they only extend it), and they add
  // below_chars characters at most (UTF-8 lead and ASCII bytes).
  struct trie_node {
    int32_t first_child = -1, next_sibling = -1;
    int32_t ids_begin = 0, ids_end = 0, sub_begin = 0, sub_end = 0;
    int32_t below_chars = 0;
    unsigned char byte = 0;
    bool below_plain = true;
  };
  std::vector<trie_node> trie;
  std::vector<int32_t> trie_ids;
  void index();
  static std::shared_ptr<const vocab_bytes> from_tokenizer(const tokenizer& tok, int64_t vocab);
};

class json_token_filter final : public token_filter {
 public:
  // max_whitespace: as json_prefix's (0: compact JSON, no whitespace outside strings)
  json_token_filter(std::shared_ptr<const vocab_bytes> vocab, std::vector<int32_t> end_tokens,
                    int max_whitespace = 16);
  void mask(std::vector<float>& logits) const override;
  void advance(int32_t id) override;
  const json_prefix& state() const { return state_; }

 private:
  std::shared_ptr<const vocab_bytes> vocab_;
  std::vector<int32_t> end_;
  json_prefix state_;
};

class schema_token_filter final : public token_filter {
 public:
  schema_token_filter(std::shared_ptr<const vocab_bytes> vocab, std::vector<int32_t> end_tokens,
                      std::shared_ptr<const json_schema> schema, int max_whitespace = 16);
  void mask(std::vector<float>& logits) const override;
  void advance(int32_t id) override;
  const schema_matcher& state() const { return state_; }

 private:
  std::shared_ptr<const vocab_bytes> vocab_;
  std::vector<int32_t> end_;
  std::shared_ptr<const json_schema> schema_;  // (state_ points into it)
  schema_matcher state_;
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
