// tokenizer_json: checked accessors over nlohmann::json for the tokenizer.json loader. Every
// accessor returns a status naming the JSON path (`model.merges[3]`) instead of throwing.
//
// Thread-safety: free functions over caller-owned values.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine::tokenizer_json {

using json = nlohmann::json;

inline std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
inline std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// The member `key` of object `j`, or nullptr when absent or null.
inline const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

inline status expect_object(const json& j, const std::string& path) {
  if (!j.is_object()) return invalid_argument("expected an object", path);
  return {};
}

inline result<std::string> get_string(const json& j, const char* key, const std::string& path,
                                      const std::string* fallback = nullptr) {
  const json* v = member(j, key);
  if (!v) {
    if (fallback) return *fallback;
    return invalid_argument("missing string", child(path, key));
  }
  if (!v->is_string()) return invalid_argument("expected a string", child(path, key));
  return v->get<std::string>();
}

inline result<bool> get_bool(const json& j, const char* key, const std::string& path,
                             bool fallback) {
  const json* v = member(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) return invalid_argument("expected a boolean", child(path, key));
  return v->get<bool>();
}

inline result<int64_t> get_int(const json& j, const char* key, const std::string& path,
                               int64_t fallback, int64_t lo, int64_t hi) {
  const json* v = member(j, key);
  if (!v) return fallback;
  if (!v->is_number_integer()) return invalid_argument("expected an integer", child(path, key));
  const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v->get<int64_t>();
  if (x < lo || x > hi) return invalid_argument("integer out of range", child(path, key));
  return x;
}

// A `{"String": s}` or `{"Regex": r}` pattern: returns the source and whether it is a regex.
struct pattern_spec {
  std::string text;
  bool is_regex = false;
};
inline result<pattern_spec> get_pattern(const json& j, const char* key, const std::string& path) {
  const json* v = member(j, key);
  const std::string p = child(path, key);
  if (!v || !v->is_object()) return invalid_argument("expected {\"String\"|\"Regex\": ...}", p);
  if (const json* s = member(*v, "String")) {
    if (!s->is_string()) return invalid_argument("expected a string", child(p, "String"));
    return pattern_spec{s->get<std::string>(), false};
  }
  if (const json* r = member(*v, "Regex")) {
    if (!r->is_string()) return invalid_argument("expected a string", child(p, "Regex"));
    return pattern_spec{r->get<std::string>(), true};
  }
  return invalid_argument("expected {\"String\"|\"Regex\": ...}", p);
}

}  // namespace kaito::engine::tokenizer_json
