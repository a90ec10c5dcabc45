// tokenizer_post_processor: the `post_processor` section of an HF tokenizer.json, which adds the
// special tokens (BOS, CLS/SEP...) around a single encoded sequence when add_special_tokens is
// set. Supported types: TemplateProcessing (the `single` template), RobertaProcessing,
// BertProcessing, ByteLevel (ids unchanged) and Sequence.
//
// Thread-safety: immutable after parsing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

class tokenizer_post_processor {
 public:
  virtual ~tokenizer_post_processor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

result<std::unique_ptr<tokenizer_post_processor>> parse_tokenizer_post_processor(
    const nlohmann::json& j, const std::string& path, int depth = 0);

}  // namespace kaito::engine
