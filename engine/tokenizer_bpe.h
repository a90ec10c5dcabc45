// tokenizer_bpe: the HF `BPE` model of a tokenizer.json: vocab, ranked merges (both the "a b"
// string and the ["a", "b"] pair forms), byte_fallback to <0xXX> pieces, unk_token with
// fuse_unk, continuing_subword_prefix, end_of_word_suffix and ignore_merges. Words are merged
// lowest rank first (leftmost on ties) with a priority queue, exactly as tokenizers'
// Word::merge_all.
//
// Thread-safety: immutable after parse except an internal word cache guarded by a mutex; tokenize()
// may run concurrently. Not copyable; movable.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

class tokenizer_bpe {
 public:
  // Parses the `model` object at `path`; errors name the offending field (a merge whose tokens
  // are not in the vocab, an unknown model type...).
  static result<std::unique_ptr<tokenizer_bpe>> parse(const nlohmann::json& model,
                                                      const std::string& path);

  // Appends the ids of one pre-tokenized word (valid UTF-8). failed_precondition when a
  // character is unknown and unk_token names a token missing from the vocab.
  status tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }

 private:
  tokenizer_bpe() = default;
  status merge_word(std::string_view word, std::vector<int32_t>& out) const;

  struct merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<int32_t, std::string> vocab_r_;
  std::unordered_map<uint64_t, merge> merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace kaito::engine
