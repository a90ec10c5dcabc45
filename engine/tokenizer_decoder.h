// tokenizer_decoder: the `decoder` section of an HF tokenizer.json, turning token strings back
// into text. Supported types: Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace.
// Without a decoder, tokens are joined with spaces (as HF does).
//
// Thread-safety: immutable after parsing; decode_chain() may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

class tokenizer_decoder {
 public:
  virtual ~tokenizer_decoder() = default;
  // Rewrites the token strings (HF Decoder::decode_chain); the text is their concatenation.
  virtual status decode_chain(std::vector<std::string>& tokens) const = 0;
};

result<std::unique_ptr<tokenizer_decoder>> parse_tokenizer_decoder(const nlohmann::json& j,
                                                                   const std::string& path,
                                                                   int depth = 0);

}  // namespace kaito::engine
