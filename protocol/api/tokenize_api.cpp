// /tokenize and /detokenize bodies; see tokenize_api.h.
#include "protocol/api/tokenize_api.h"

#include <cmath>

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

using chat_fields::ojson;

result<tokenize_request> parse_tokenize_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  tokenize_request r;
  r.messages = ojson::array();
  KAITO_TRY(chat_fields::read_string(j, "model", "model", r.model));
  const ojson* messages = chat_fields::field(j, "messages");
  const ojson* prompt = chat_fields::field(j, "prompt");
  if (messages && prompt) return invalid_argument("give prompt or messages, not both", "prompt");
  if (messages) {
    KAITO_ASSIGN_OR_RETURN(r.messages, chat_fields::parse_messages(*messages, "messages"));
    r.add_special_tokens = false;  // the chat template writes them
    KAITO_TRY(chat_fields::read_bool(j, "add_generation_prompt", "add_generation_prompt",
                                     r.add_generation_prompt));
  } else {
    if (!prompt) return invalid_argument("required: a string (or messages)", "prompt");
    if (!prompt->is_string()) return chat_fields::wrong(*prompt, "prompt", "a string");
    r.prompt = prompt->get<std::string>();
  }
  KAITO_TRY(
      chat_fields::read_bool(j, "add_special_tokens", "add_special_tokens", r.add_special_tokens));
  return r;
}

result<detokenize_request> parse_detokenize_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  detokenize_request r;
  KAITO_TRY(chat_fields::read_string(j, "model", "model", r.model));
  const ojson* tokens = chat_fields::field(j, "tokens");
  if (!tokens) return invalid_argument("required: an array of token ids", "tokens");
  if (!tokens->is_array()) return chat_fields::wrong(*tokens, "tokens", "an array of token ids");
  for (size_t i = 0; i < tokens->size(); ++i) {
    const ojson& t = (*tokens)[i];
    const std::string path = "tokens[" + std::to_string(i) + "]";
    // Integers, and floats with an integral value (7.0), as pydantic's lax mode reads them.
    const double d = t.is_number() ? t.get<double>() : -1.0;
    if (!t.is_number() || d < 0 || d > 2147483647.0 || d != std::floor(d))
      return chat_fields::wrong(t, path, "a token id in [0, 2147483647]");
    r.tokens.push_back(static_cast<int32_t>(d));
  }
  return r;
}

std::string tokenize_response(const std::vector<int32_t>& tokens, int64_t max_model_len) {
  nlohmann::json j = {{"count", tokens.size()},
                      {"max_model_len", max_model_len},
                      {"tokens", tokens},
                      {"token_strs", nullptr}};
  return j.dump();
}

std::string detokenize_response(const std::string& text) {
  return nlohmann::json({{"prompt", text}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kaito::api
