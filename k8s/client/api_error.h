// Maps an API server's error answer (HTTP code + `kind: Status` body) to a kaito::status, in one
// place: 404 -> not_found, 409 AlreadyExists -> already_exists, 409 Conflict -> conflict,
// 400/422 -> invalid_argument (where = the causes' field paths, comma-separated), 401 ->
// unauthenticated, 403 -> permission_denied, 410 -> failed_precondition (reason "Expired"/"Gone"),
// 413 -> resource_exhausted, 429/5xx -> unavailable, 504 -> deadline_exceeded, 405/415 ->
// unimplemented. The message is the Status message (or the raw body), prefixed with the reason.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s {

status status_from_response(int http_code, const std::string& body);
status status_from_status_object(const nlohmann::json& st);  // a Status object, e.g. a watch ERROR

// True when the error is the server saying the requested resourceVersion is too old (410).
bool is_gone(const status& s);

// obj[key] when obj is an object and the member a string; "" otherwise (server data is untrusted).
std::string string_field(const nlohmann::json& obj, const char* key);
// obj["metadata"][key] the same way.
std::string meta_string(const nlohmann::json& obj, const char* key);

}  // namespace kaito::k8s
