// tokenizer_normalizer: the `normalizer` section of an HF tokenizer.json, applied to each piece of
// input text that is not an added token. Supported types: Sequence, Prepend, Replace (String or
// Regex pattern), NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents.
//
// Thread-safety: immutable after parsing; normalize() may run concurrently.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

class tokenizer_normalizer {
 public:
  virtual ~tokenizer_normalizer() = default;
  // Rewrites valid UTF-8 `s` in place. Fails only on regex resource limits or ICU errors.
  virtual status normalize(std::string& s) const = 0;
};

// Parses the JSON object at `path`; invalid_argument / unimplemented naming the field on failure.
// `depth` bounds Sequence nesting.
result<std::unique_ptr<tokenizer_normalizer>> parse_tokenizer_normalizer(const nlohmann::json& j,
                                                                         const std::string& path,
                                                                         int depth = 0);

}  // namespace kaito::engine
