// tokenizer: an HF `tokenizer.json` (tokenizers 0.2x format) loaded into the same pipeline that
// the Rust `tokenizers` library runs, so encode() returns the ids HF returns:
//   added tokens split out of the raw text -> normalizer -> normalized added tokens split out ->
//   pre-tokenizer -> BPE model per word -> post-processor (when add_special_tokens).
// decode() maps ids back through the decoder; tokenizer_decode_stream (tokenizer_stream.h) emits
// text incrementally without ever cutting a UTF-8 sequence.
//
// Input text is UTF-8; invalid sequences are replaced by U+FFFD (one per maximal subpart, as
// Python's bytes.decode('utf-8', 'replace')) before encoding, since HF only accepts valid strings.
//
// Thread-safety: immutable after load (the BPE word cache is internally locked); encode/decode may
// run concurrently. Movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/tokenizer_added_vocab.h"

namespace kaito::engine {

class tokenizer_bpe;
class tokenizer_normalizer;
class tokenizer_pre_tokenizer;
class tokenizer_decoder;
class tokenizer_post_processor;

class tokenizer {
 public:
  // Parses tokenizer.json text. invalid_argument naming the JSON path (`model.merges[7]`) for a
  // malformed file, unimplemented for a component type this engine does not support.
  static result<tokenizer> from_json(std::string_view json_text);
  // Reads and parses a file; io_error when it cannot be read.
  static result<tokenizer> from_file(const std::string& path);

  tokenizer(tokenizer&&) noexcept;
  tokenizer& operator=(tokenizer&&) noexcept;
  tokenizer(const tokenizer&) = delete;
  tokenizer& operator=(const tokenizer&) = delete;
  ~tokenizer();

  // Token ids of `text`, with the post-processor's special tokens when add_special_tokens.
  // Fails only when a regex hits its backtracking limit or the model's unk token is missing.
  result<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens = true) const;

  // Text of `ids` (unknown ids are skipped; special tokens too when skip_special_tokens, which is
  // HF's default, except the ids in `keep`: a tool parser's markers).
  result<std::string> decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true,
                             const std::vector<int32_t>& keep = {}) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // Model vocab plus added tokens not in it (HF get_vocab_size(with_added_tokens=true)).
  size_t vocab_size() const;
  bool is_special(int32_t id) const;
  // Every added token flagged special (BOS/EOS/chat markers...), in file order.
  std::vector<added_token> special_tokens() const;

 private:
  tokenizer();
  struct parts;
  std::unique_ptr<parts> p_;
};

}  // namespace kaito::engine
