// json_fields: the small reader/writer pair every typed codec in protocol/api uses.
//
// field_reader walks one JSON object: each get_* consumes a key (absent or null leaves the
// optional empty), checks its type and returns invalid_argument naming the field path on a
// mismatch ("resource.count: expected an integer, got string"). finish() returns the keys nobody
// consumed as an object (kept in the struct's `extra`) and appends `unknown field "<path>"` for
// each to the warnings list, the way the API server's strict decoding reports them. put_* write
// optional values back only when present, so decode -> encode is lossless.
//
// Thread-safety: values only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

using json = nlohmann::json;

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join_path(const std::string& parent, const std::string& key);
// JSON type name for messages: "string", "integer", "number", "boolean", "array", "object", "null".
const char* json_type_name(const json& j);

class field_reader {
 public:
  // `j` must outlive the reader. Construct only over an object (see expect_object).
  field_reader(const json& j, std::string path, std::vector<std::string>* warnings)
      : j_(j), path_(std::move(path)), warnings_(warnings) {}

  status get_string(const char* key, std::optional<std::string>& out);
  status get_int(const char* key, std::optional<int64_t>& out);
  status get_bool(const char* key, std::optional<bool>& out);
  status get_string_list(const char* key, std::optional<std::vector<std::string>>& out);
  status get_string_map(const char* key, std::optional<std::map<std::string, std::string>>& out);
  // Any JSON value, kept raw (null counts as absent).
  void get_raw(const char* key, std::optional<json>& out);
  // The value under key (nullptr when absent or null) and its path; marks it consumed.
  const json* take(const char* key);
  std::string path_of(const char* key) const { return join_path(path_, key); }

  json finish();

 private:
  const json& j_;
  std::string path_;
  std::vector<std::string>* warnings_;
  std::set<std::string> consumed_;
};

status expect_object(const json& j, const std::string& path);

// Writers: set j[key] only when the optional holds a value.
void put(json& j, const char* key, const std::optional<std::string>& v);
void put(json& j, const char* key, const std::optional<int64_t>& v);
void put(json& j, const char* key, const std::optional<bool>& v);
void put(json& j, const char* key, const std::optional<std::vector<std::string>>& v);
void put(json& j, const char* key, const std::optional<std::map<std::string, std::string>>& v);
void put(json& j, const char* key, const std::optional<json>& v);
// Re-emits unknown keys.
void put_extra(json& j, const json& extra);

}  // namespace kaito::api
