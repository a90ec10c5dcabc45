// Added-token matching (see tokenizer_added_vocab.h); mirrors
// tokenizers/src/tokenizer/added_vocabulary.rs.
#include "engine/tokenizer_added_vocab.h"

#include <algorithm>

#include "engine/unicode.h"

namespace kaito::engine {

void tokenizer_added_vocab::trie::insert(std::string_view pattern, int32_t token) {
  if (pattern.empty()) return;
  int32_t n = 0;
  for (unsigned char c : pattern) {
    auto it = nodes[static_cast<size_t>(n)].next.find(c);
    if (it == nodes[static_cast<size_t>(n)].next.end()) {
      nodes.push_back(node{});
      const int32_t fresh = static_cast<int32_t>(nodes.size() - 1);
      nodes[static_cast<size_t>(n)].next.emplace(c, fresh);
      n = fresh;
    } else {
      n = it->second;
    }
  }
  if (nodes[static_cast<size_t>(n)].token < 0) nodes[static_cast<size_t>(n)].token = token;
}

int32_t tokenizer_added_vocab::trie::longest_at(std::string_view s, size_t pos, size_t* end) const {
  int32_t n = 0, best = -1;
  for (size_t i = pos; i < s.size(); ++i) {
    const auto& next = nodes[static_cast<size_t>(n)].next;
    auto it = next.find(static_cast<unsigned char>(s[i]));
    if (it == next.end()) break;
    n = it->second;
    if (nodes[static_cast<size_t>(n)].token >= 0) {
      best = nodes[static_cast<size_t>(n)].token;
      *end = i + 1;
    }
  }
  return best;
}

status tokenizer_added_vocab::build(std::vector<added_token> tokens,
                                    const tokenizer_normalizer* normalizer) {
  tokens_ = std::move(tokens);
  // HF matches special tokens first, then the other added tokens (pattern order breaks ties).
  std::vector<size_t> order(tokens_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return tokens_[a].special && !tokens_[b].special; });
  for (size_t i : order) {
    added_token& t = tokens_[i];
    t.surface = t.content;
    by_id_[t.id] = i;
    by_content_.emplace(t.content, i);
    if (!t.normalized) {
      raw_.insert(t.content, static_cast<int32_t>(i));
    } else {
      std::string pattern = t.content;
      if (normalizer) KAITO_TRY(normalizer->normalize(pattern));
      normalized_.insert(pattern, static_cast<int32_t>(i));
      t.surface = pattern;
    }
  }
  return {};
}

const added_token* tokenizer_added_vocab::find_by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const added_token* tokenizer_added_vocab::find_by_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

void tokenizer_added_vocab::split(const text_piece& piece, bool normalized_set,
                                  std::vector<input_segment>& out) const {
  const trie& t = normalized_set ? normalized_ : raw_;
  const std::string& s = piece.text;
  const auto emit = [&](size_t b, size_t e, int32_t id) {
    if (e > b) out.push_back({text_piece{s.substr(b, e - b), piece.origin + b}, id});
  };
  size_t start_offset = 0;
  if (t.nodes.size() > 1) {
    for (size_t pos = 0; pos < s.size();) {
      size_t stop = 0;
      const int32_t ti = t.longest_at(s, pos, &stop);
      if (ti < 0) {
        ++pos;
        continue;
      }
      size_t start = pos;
      pos = stop;  // the next search starts after this match, even if it is discarded
      const added_token& tok = tokens_[static_cast<size_t>(ti)];
      if (tok.single_word) {
        const bool start_space = start == 0 || !is_word_char(utf8_last_before(s, start));
        size_t q = stop;
        const bool stop_space = stop == s.size() || !is_word_char(utf8_next(s, q));
        if (!start_space || !stop_space) continue;
      }
      if (tok.lstrip) {
        size_t b = start;
        while (b > 0) {
          size_t cs = 0;
          if (!is_unicode_whitespace(utf8_last_before(s, b, &cs))) break;
          b = cs;
        }
        start = std::max(b, start_offset);
      }
      if (tok.rstrip) {
        while (stop < s.size()) {
          size_t q = stop;
          if (!is_unicode_whitespace(utf8_next(s, q))) break;
          stop = q;
        }
      }
      if (start_offset < start) emit(start_offset, start, -1);
      out.push_back({text_piece{s.substr(start, stop - start), piece.origin + start}, tok.id});
      start_offset = std::max(start_offset, stop);
    }
  }
  if (start_offset < s.size()) emit(start_offset, s.size(), -1);
}

}  // namespace kaito::engine
