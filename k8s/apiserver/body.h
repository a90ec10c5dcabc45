// Request bodies: JSON (application/json, or no Content-Type) and YAML (application/yaml, and
// apply-patch+yaml, whose bodies kubectl sends as JSON but other clients as YAML). Protobuf and
// other media types are refused so the server can answer 415. Documents nested deeper than
// kMaxDepth are refused (400) rather than risk the stack.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

inline constexpr int kMaxDepth = 100;

enum class body_format { json, yaml, unsupported };

// The media type without parameters, lower-cased ("application/json").
std::string media_type(std::string_view content_type);
body_format body_format_of(std::string_view content_type);

// invalid_argument naming the byte offset (JSON) or line:column (YAML) of the first error.
result<json> parse_json_body(std::string_view body);
result<json> parse_yaml_body(std::string_view body);
result<json> decode_body(std::string_view body, body_format fmt);

}  // namespace kaito::k8s::apiserver

namespace kaito::k8s::apiserver {
// Every document of a (possibly multi-document) YAML stream; null documents are skipped.
result<std::vector<json>> parse_yaml_documents(std::string_view text);
}  // namespace kaito::k8s::apiserver
