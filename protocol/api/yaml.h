// yaml: YAML and JSON documents <-> nlohmann::json, at the boundary where text enters kaito-cpp.
//
// decode_yaml_documents parses a YAML stream (one or many `---` documents; JSON is YAML too) into
// one json value per non-empty document. Plain scalars resolve as Kubernetes' YAML (go-yaml v2,
// YAML 1.1) resolves them: null/~/empty -> null, true/false/yes/no/on/off/y/n -> boolean, integers
// (decimal, 0x, 0o) and floats (incl. .inf/.nan) -> numbers; quoted scalars and `!!str` stay
// strings. Mapping keys must be scalars; a repeated key is an error. Errors are invalid_argument
// with where() = "line L, column C" (1-based) and to_string() = "line 4, column 3: <message>".
// Nesting deeper than kMaxDepth and documents expanding (through aliases) past kMaxNodes are
// refused, so no input crashes or exhausts memory; yaml-cpp's exceptions never escape.
//
// decode_json parses strict JSON with the same error shape (line/column from the byte offset).
// decode_documents picks JSON for input whose first non-space byte is '{' or '[', YAML otherwise.
//
// encode_yaml writes block-style YAML: object keys in the json's iteration order, strings that a
// YAML reader would resolve to something else (numbers, booleans, null, leading indicators,
// newlines) double-quoted, so decode_yaml_documents(encode_yaml(j)) == {j}.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

using json = nlohmann::json;

inline constexpr int kMaxDepth = 256;
inline constexpr size_t kMaxNodes = 1'000'000;

result<std::vector<json>> decode_yaml_documents(std::string_view text);
// Exactly one document (an empty stream is an error).
result<json> decode_yaml(std::string_view text);
result<json> decode_json(std::string_view text);
result<std::vector<json>> decode_documents(std::string_view text);

std::string encode_yaml(const json& j);
// Several documents separated by "---\n".
std::string encode_yaml_documents(const std::vector<json>& docs);

}  // namespace kaito::api
