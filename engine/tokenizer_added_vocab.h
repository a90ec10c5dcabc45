// tokenizer_added_vocab: the `added_tokens` of an HF tokenizer.json and how they cut input text
// before normalization (tokens with normalized=false, matched on the raw text) and after it
// (normalized=true, matched against their own normalized form), leftmost-longest, honouring
// single_word, lstrip and rstrip exactly as tokenizers' AddedVocabulary::find_matches.
//
// Thread-safety: immutable after build(); split() may run concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "engine/tokenizer_normalizer.h"
#include "engine/tokenizer_pre_tokenizer.h"

namespace kaito::engine {

struct added_token {
  std::string content;
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  // The token's text when decoding: `content`, normalized when `normalized` (HF id_to_token).
  std::string surface;
};

// A piece of input: either an added token (id >= 0) or text still to be tokenized (id < 0).
struct input_segment {
  text_piece piece;
  int32_t id = -1;
};

class tokenizer_added_vocab {
 public:
  // Builds both matchers; `normalizer` (may be null; must outlive this call) normalizes the
  // patterns of normalized tokens.
  status build(std::vector<added_token> tokens, const tokenizer_normalizer* normalizer);

  // Cuts `piece` with the raw (normalized=false) or the normalized matcher; empty pieces are
  // dropped.
  void split(const text_piece& piece, bool normalized_set, std::vector<input_segment>& out) const;

  const std::vector<added_token>& tokens() const { return tokens_; }
  const added_token* find_by_id(int32_t id) const;
  const added_token* find_by_content(std::string_view content) const;

 private:
  struct trie {
    struct node {
      std::unordered_map<unsigned char, int32_t> next;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<node> nodes{node{}};
    void insert(std::string_view pattern, int32_t token);
    // Longest pattern starting at `pos`: its token index and end, or -1.
    int32_t longest_at(std::string_view s, size_t pos, size_t* end) const;
  };

  std::vector<added_token> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  trie raw_, normalized_;
};

}  // namespace kaito::engine
