// Status answers to kaito::status; see api_error.h.
#include "k8s/client/api_error.h"

namespace kaito::k8s {

using json = nlohmann::json;

std::string string_field(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string meta_string(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find("metadata");
  return it == obj.end() ? "" : string_field(*it, key);
}

status status_from_status_object(const json& st) {
  int code = 0;
  std::string message, reason, where;
  if (st.is_object()) {
    if (st.contains("code") && st["code"].is_number_integer()) code = st["code"].get<int>();
    if (st.contains("message") && st["message"].is_string()) message = st["message"];
    if (st.contains("reason") && st["reason"].is_string()) reason = st["reason"];
    if (st.contains("details") && st["details"].is_object() && st["details"].contains("causes") &&
        st["details"]["causes"].is_array())
      for (const auto& c : st["details"]["causes"])
        if (c.is_object() && c.contains("field") && c["field"].is_string()) {
          if (!where.empty()) where += ", ";
          where += c["field"].get<std::string>();
        }
  }
  if (message.empty()) message = "HTTP " + std::to_string(code);
  std::string text = reason.empty() ? message : reason + ": " + message;
  status_code sc = status_code::internal;
  switch (code) {
    case 400:
    case 422:
      sc = status_code::invalid_argument;
      break;
    case 401:
      sc = status_code::unauthenticated;
      break;
    case 403:
      sc = status_code::permission_denied;
      break;
    case 404:
      sc = status_code::not_found;
      break;
    case 405:
    case 415:
      sc = status_code::unimplemented;
      break;
    case 409:
      sc = reason == "AlreadyExists" ? status_code::already_exists : status_code::conflict;
      break;
    case 410:
      sc = status_code::failed_precondition;
      break;
    case 413:
      sc = status_code::resource_exhausted;
      break;
    case 504:
      sc = status_code::deadline_exceeded;
      break;
    default:
      if (code == 429 || code >= 500) sc = status_code::unavailable;
  }
  if (code == 500) sc = status_code::internal;
  if (code == 410 && reason.empty()) text = "Expired: " + message;
  return status(sc, text, where);
}

status status_from_response(int http_code, const std::string& body) {
  json st = json::parse(body, nullptr, false);
  if (string_field(st, "kind") != "Status") {
    std::string snippet = body.substr(0, 512);
    st = json{{"message", snippet.empty() ? "HTTP " + std::to_string(http_code) : snippet}};
  }
  st["code"] = http_code;  // the transport's code wins over the body's
  return status_from_status_object(st);
}

bool is_gone(const status& s) {
  return s.code() == status_code::failed_precondition &&
         (s.message().rfind("Expired", 0) == 0 || s.message().rfind("Gone", 0) == 0);
}

}  // namespace kaito::k8s
