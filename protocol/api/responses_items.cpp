// The input items of a stored response, a page at a time; see responses_items.h.
#include "protocol/api/responses_items.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

namespace {

using chat_fields::field;
using chat_fields::ojson;

// OpenAI's ResponseIncludable values.
constexpr const char* kIncludables[] = {
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
};

// An item as OpenAI lists it: string content as one text part, a status.
ojson listed(ojson item) {
  if (!item.is_object()) return item;
  const ojson* type = field(item, "type");
  if (!type || *type == "message") {
    if (!type) item["type"] = "message";
    if (const ojson* content = field(item, "content"); content && content->is_string()) {
      const ojson* role = field(item, "role");
      const bool assistant = role && *role == "assistant";
      ojson part = {{"type", assistant ? "output_text" : "input_text"}, {"text", *content}};
      if (assistant) part["annotations"] = ojson::array();
      item["content"] = ojson::array({std::move(part)});
    }
  }
  if (!item.contains("status")) item["status"] = "completed";
  return item;
}

}  // namespace

result<input_items_query> read_input_items_query(const std::map<std::string, std::string>& q) {
  input_items_query out;
  if (auto it = q.find("limit"); it != q.end()) {
    const std::string& v = it->second;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 100)
      return invalid_argument("expected an integer in [1, 100], got \"" + v + "\"", "limit");
    out.limit = n;
  }
  if (auto it = q.find("order"); it != q.end()) {
    if (it->second != "asc" && it->second != "desc")
      return invalid_argument("expected \"asc\" or \"desc\", got \"" + it->second + "\"", "order");
    out.ascending = it->second == "asc";
  }
  for (const char* key : {"include", "include[]"}) {
    auto it = q.find(key);
    if (it == q.end() || it->second.empty()) continue;
    if (std::none_of(std::begin(kIncludables), std::end(kIncludables),
                     [&](const char* v) { return it->second == v; }))
      return invalid_argument("unknown value \"" + it->second + "\"", "include");
  }
  if (auto it = q.find("after"); it != q.end()) out.after = it->second;
  return out;
}

result<std::string> responses_input_items_body(const ojson& history, std::string_view response_body,
                                               const input_items_query& q) {
  KAITO_ASSIGN_OR_RETURN(ojson response, chat_fields::parse_body(response_body));
  size_t outputs = 0;
  if (const ojson* output = field(response, "output"); output && output->is_array())
    outputs = output->size();
  const size_t n = history.is_array() && history.size() > outputs ? history.size() - outputs : 0;
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = q.ascending ? i : n - 1 - i;
  size_t from = 0;
  if (!q.after.empty()) {
    auto at = std::find_if(order.begin(), order.end(), [&](size_t i) {
      const ojson* id = field(history[i], "id");
      return id && *id == q.after;
    });
    if (at == order.end())
      return invalid_argument("no input item \"" + q.after + "\" in this response", "after");
    from = static_cast<size_t>(at - order.begin()) + 1;
  }
  const size_t to = std::min(n, from + static_cast<size_t>(q.limit));
  ojson data = ojson::array();
  for (size_t k = from; k < to; ++k) data.push_back(listed(history[order[k]]));
  auto id_of = [](const ojson& item) -> ojson {
    const ojson* id = field(item, "id");
    return id ? *id : ojson();
  };
  ojson page = {{"object", "list"},
                {"data", data},
                {"first_id", data.empty() ? ojson() : id_of(data.front())},
                {"last_id", data.empty() ? ojson() : id_of(data.back())},
                {"has_more", to < n}};
  return chat_fields::dump_utf8(page);
}

}  // namespace kaito::api
