// tokenize_api: the bodies of vLLM's POST /tokenize and POST /detokenize (Kaito's vLLM runtime
// serves them; clients use them to count tokens against max_model_len).
//
//   /tokenize    {"model"?, "prompt": text, "add_special_tokens"?: true}
//             or {"model"?, "messages": [...], "add_generation_prompt"?: true,
//                 "add_special_tokens"?: false}      (messages as in chat completions)
//             -> {"count": N, "max_model_len": M, "tokens": [ids], "token_strs": null}
//   /detokenize  {"model"?, "tokens": [ids]} -> {"prompt": text}
//
// Parsing follows chat_api.h: malformed JSON is invalid_argument at "byte <offset>", other
// errors name the field ("tokens[3]", "messages[0].content"), never a throw. Token ids must be
// integers in [0, 2^31); the model's vocabulary bound is the caller's check.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

struct tokenize_request {
  std::string model;                // "" when not given
  std::string prompt;               // the text form (messages empty then)
  nlohmann::ordered_json messages;  // the chat form: [{role, content}], else empty
  bool add_special_tokens = true;   // the text form's default; false for messages
  bool add_generation_prompt = true;
};
result<tokenize_request> parse_tokenize_request(std::string_view body);

struct detokenize_request {
  std::string model;
  std::vector<int32_t> tokens;
};
result<detokenize_request> parse_detokenize_request(std::string_view body);

std::string tokenize_response(const std::vector<int32_t>& tokens, int64_t max_model_len);
std::string detokenize_response(const std::string& text);

}  // namespace kaito::api
