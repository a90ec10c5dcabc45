// Responses API conversation state; see responses_state.h.
#include "protocol/api/responses_state.h"

#include <utility>

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

namespace {

using chat_fields::field;
using chat_fields::ojson;
using chat_fields::wrong;

// The request's input as an array of items: a string is one user message.
result<ojson> input_items(const ojson& j) {
  const ojson* input = field(j, "input");
  if (!input) return invalid_argument("required: a string or an array of messages", "input");
  if (input->is_string())
    return ojson::array({{{"type", "message"}, {"role", "user"}, {"content", *input}}});
  if (!input->is_array() || input->empty())
    return wrong(*input, "input", "a string or a non-empty array of messages");
  return *input;
}

}  // namespace

result<responses_state> read_responses_state(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  responses_state s;
  KAITO_TRY(chat_fields::read_string(j, "previous_response_id", "previous_response_id",
                                     s.previous_response_id));
  if (!s.previous_response_id.empty() && s.previous_response_id.rfind("resp_", 0) != 0)
    return invalid_argument(
        "expected a response id \"resp_...\", got \"" + s.previous_response_id + "\"",
        "previous_response_id");
  KAITO_TRY(chat_fields::read_bool(j, "store", "store", s.store));
  return s;
}

result<std::string> responses_body_with_history(std::string_view body, const ojson& history) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  KAITO_ASSIGN_OR_RETURN(ojson input, input_items(j));
  ojson all = history.is_array() ? history : ojson::array();
  for (auto& item : input) all.push_back(std::move(item));
  j["input"] = std::move(all);
  j.erase("previous_response_id");
  return chat_fields::dump_utf8(j);
}

result<std::string> responses_body_with_references(
    std::string_view body, const std::function<std::optional<ojson>(const std::string&)>& find) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  ojson* input = j.contains("input") ? &j["input"] : nullptr;
  if (!input || !input->is_array()) return std::string(body);
  bool changed = false;
  for (size_t i = 0; i < input->size(); ++i) {
    ojson& item = (*input)[i];
    const ojson* type = item.is_object() ? field(item, "type") : nullptr;
    if (!type || *type != "item_reference") continue;
    const std::string at = "input[" + std::to_string(i) + "].id";
    const ojson* id = field(item, "id");
    if (!id || !id->is_string()) return wrong(id ? *id : ojson(), at, "a stored item's id");
    auto found = find(id->get<std::string>());
    if (!found)
      return invalid_argument("no stored response has an item \"" + id->get<std::string>() + "\"",
                              at);
    item = std::move(*found);
    changed = true;
  }
  return changed ? chat_fields::dump_utf8(j) : std::string(body);
}

result<ojson> responses_history_after(std::string_view request_body,
                                      std::string_view response_body) {
  KAITO_ASSIGN_OR_RETURN(ojson request, chat_fields::parse_body(request_body));
  KAITO_ASSIGN_OR_RETURN(ojson history, input_items(request));
  KAITO_ASSIGN_OR_RETURN(ojson response, chat_fields::parse_body(response_body));
  // The request's items get ids, as OpenAI's stored input items have (GET .../input_items pages
  // by them): "msg_<response>_<i>" for a message, "item_<response>_<i>" for another item.
  std::string rid;
  if (const ojson* id = field(response, "id"); id && id->is_string()) rid = id->get<std::string>();
  if (rid.rfind("resp_", 0) == 0) rid.erase(0, 5);
  for (size_t i = 0; i < history.size(); ++i) {
    ojson& item = history[i];
    if (!item.is_object() || item.contains("id")) continue;
    const ojson* type = field(item, "type");
    const bool message = !type || *type == "message";
    item["id"] = (message ? "msg_" : "item_") + rid + "_" + std::to_string(i);
  }
  if (const ojson* output = field(response, "output"); output && output->is_array())
    for (const ojson& item : *output) history.push_back(item);
  return history;
}

}  // namespace kaito::api
