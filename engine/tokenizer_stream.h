// tokenizer_decode_stream: incremental detokenization for generation, equal to HF tokenizers'
// DecodeStream. Each step() takes one id and returns the new text it completes, or nothing while
// the decoded tail still ends in an incomplete UTF-8 sequence (U+FFFD) or adds no text; the
// concatenation of all returned chunks never contains a partial UTF-8 sequence.
//
// Thread-safety: one stream per generation; not thread-safe. Holds a reference to the tokenizer,
// which must outlive it. Copyable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/tokenizer.h"

namespace kaito::engine {

class tokenizer_decode_stream {
 public:
  // keep: special tokens whose text stays although skip_special_tokens (tokenizer::decode).
  explicit tokenizer_decode_stream(const tokenizer& tok, bool skip_special_tokens = true,
                                   std::vector<int32_t> keep = {})
      : tok_(&tok), skip_special_(skip_special_tokens), keep_(std::move(keep)) {}

  // New text completed by `id`; nullopt when none yet. internal when the decoded text stopped
  // extending the previous one (a decoder that rewrites earlier text).
  result<std::optional<std::string>> step(int32_t id);

 private:
  const tokenizer* tok_;
  bool skip_special_;
  std::vector<int32_t> keep_;
  std::vector<int32_t> ids_;
  std::string prefix_;
  size_t prefix_index_ = 0;
};

// The text token `id` adds after token `before` (special tokens kept): decode([before, id]) less
// decode([before]), so a SentencePiece "▁Paris" keeps the space its decoder strips at the start
// of a text; decode([id]) when that is not an extension (a decoder that rewrites). For an answer
// token's logprobs entry (OpenAI's "token"); `before` < 0: decode([id]).
std::string token_text_after(const tokenizer& tok, int32_t before, int32_t id);
// The same for each of ids after one `before` (a token and its alternatives), decoding `before`
// once.
std::vector<std::string> token_texts_after(const tokenizer& tok, int32_t before,
                                           const std::vector<int32_t>& ids);

}  // namespace kaito::engine
