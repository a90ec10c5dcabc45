// json_access: reads of untrusted JSON that never throw. nlohmann's value() throws on a receiver
// that is not an object; member() answers a null instead, so chains like
// member(member(pod, "spec"), "nodeName") are safe on any input.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s::controllers {

// obj[key] when obj is an object holding key; a null json otherwise. The reference stays valid as
// long as obj does.
inline const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json null_json;
  if (!obj.is_object()) return null_json;
  auto it = obj.find(key);
  return it == obj.end() ? null_json : *it;
}

// member() as an object: {} unless it is one.
inline nlohmann::json object_member(const nlohmann::json& obj, const char* key) {
  const nlohmann::json& m = member(obj, key);
  return m.is_object() ? m : nlohmann::json::object();
}

// Runs f() (returning status or result<T>); a JSON type error thrown by a malformed object becomes
// internal_error("<what>: malformed object: ...") instead of crossing the layer.
template <class F>
auto guard_json(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    return internal_error(what + ": malformed object: " + e.what());
  }
}

}  // namespace kaito::k8s::controllers
