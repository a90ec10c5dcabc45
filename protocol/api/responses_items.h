// responses_items: GET /v1/responses/{id}/input_items, OpenAI's list of the items a stored
// response was generated from: its conversation (responses_state.h) less its own output, so with
// previous_response_id the earlier turns' inputs and outputs come first, as OpenAI and Llama
// Stack list them.
//
//   auto q = read_input_items_query(query);   // after, limit (1..100, 20), order (desc), include
//   auto body = responses_input_items_body(history, response_body, *q);
//
// The body is a page: {"object": "list", "data": [...], "first_id", "last_id", "has_more"};
// data in `order` (desc: the newest first), starting after the item `after` names. Items are as
// OpenAI lists them: a message's string content becomes one input_text part (output_text for
// an assistant's), and each item has a status ("completed").
//
// Errors: invalid_argument naming limit / order / include / after (an id not among the items).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

struct input_items_query {
  std::string after;  // an item id; "" = from the first
  int64_t limit = 20;
  bool ascending = false;  // order=asc; OpenAI's default is desc
};

// The decoded query parameters (base/url_query.h); unknown ones are ignored. include (or
// include[]) may name OpenAI's includables; none adds anything to text items.
result<input_items_query> read_input_items_query(const std::map<std::string, std::string>& q);

result<std::string> responses_input_items_body(const nlohmann::ordered_json& history,
                                               std::string_view response_body,
                                               const input_items_query& q);

}  // namespace kaito::api
