// responses_state: the Responses API's conversation state (OpenAI's store / previous_response_id)
// as pure functions over request and response bodies; the server keeps the stored responses
// (actors/response_store.h).
//
// A request's previous_response_id ("resp_<id>", a response this server stored) continues that
// conversation: responses_body_with_history puts the stored history (input items) before the
// request's input and drops the field, so parse_responses_request reads one conversation. As
// OpenAI's, the earlier request's instructions are not carried over. store (default true) asks
// the server to keep this response; responses_history_after is what it keeps: the request's
// input as items (a string input is one user message) followed by the response's output items
// (its assistant message, its function calls), which add_item reads back. The request's items
// without an id get one there ("msg_<response id>_<index>", "item_..." for other types), so each
// stored item is named (responses_items.h lists them).
//
// An input item {"type": "item_reference", "id": "msg_..."} stands for a stored item (an input or
// output item of a stored response): responses_body_with_references puts the item itself in its
// place, as OpenAI resolves it; an id no stored response has is invalid_argument naming
// input[i].id.
//
// Errors: invalid_argument naming previous_response_id / store / input.
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

struct responses_state {
  std::string previous_response_id;  // "" = a new conversation
  bool store = true;
};

result<responses_state> read_responses_state(std::string_view body);

// body with `history` (an array of input items) before its input, without previous_response_id.
result<std::string> responses_body_with_history(std::string_view body,
                                                const nlohmann::ordered_json& history);

// body with each item_reference in its input replaced by find(id) (nullopt: unknown).
result<std::string> responses_body_with_references(
    std::string_view body,
    const std::function<std::optional<nlohmann::ordered_json>(const std::string&)>& find);

// The conversation after a response: the request's input items, then the response's output.
result<nlohmann::ordered_json> responses_history_after(std::string_view request_body,
                                                       std::string_view response_body);

}  // namespace kaito::api
