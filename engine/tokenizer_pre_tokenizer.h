// tokenizer_pre_tokenizer: the `pre_tokenizer` section of an HF tokenizer.json, which cuts each
// normalized piece into words for the model. Supported types: Sequence, Metaspace, ByteLevel,
// Split (String/Regex pattern; Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous;
// invert), Digits, WhitespaceSplit.
//
// Thread-safety: immutable after parsing; pre_tokenize() may run concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

// A piece of text on its way to the model. `origin` is the byte offset of the piece in the
// original input (approximate once a normalizer changed lengths); Metaspace's "first" prepend
// scheme only prepends on the piece at origin 0.
struct text_piece {
  std::string text;
  size_t origin = 0;
};

class tokenizer_pre_tokenizer {
 public:
  virtual ~tokenizer_pre_tokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped (as HF does).
  virtual status pre_tokenize(std::vector<text_piece>& pieces) const = 0;
};

result<std::unique_ptr<tokenizer_pre_tokenizer>> parse_tokenizer_pre_tokenizer(
    const nlohmann::json& j, const std::string& path, int depth = 0);

// HF SplitDelimiterBehavior.
enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Cuts `text` given its matches ([begin, end) ranges, ascending, non-overlapping) according to
// `behavior` (HF NormalizedString::split), returning the kept [begin, end) ranges, empty included.
std::vector<std::pair<size_t, size_t>> split_by_matches(
    size_t text_size, const std::vector<std::pair<size_t, size_t>>& matches,
    split_behavior behavior, bool invert);

}  // namespace kaito::engine
