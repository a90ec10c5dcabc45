#include "protocol/api/json_fields.h"

namespace kaito::api {

std::string join_path(const std::string& parent, const std::string& key) {
  if (parent.empty()) return key;
  return parent + "." + key;
}

const char* json_type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "binary";
  }
}

namespace {
status type_error(const std::string& path, const char* want, const json& got) {
  return invalid_argument(std::string("expected ") + want + ", got " + json_type_name(got), path);
}
}  // namespace

status expect_object(const json& j, const std::string& path) {
  if (!j.is_object()) return type_error(path, "an object", j);
  return status();
}

const json* field_reader::take(const char* key) {
  consumed_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

status field_reader::get_string(const char* key, std::optional<std::string>& out) {
  const json* v = take(key);
  if (!v) return status();
  if (!v->is_string()) return type_error(path_of(key), "a string", *v);
  out = v->get<std::string>();
  return status();
}

status field_reader::get_int(const char* key, std::optional<int64_t>& out) {
  const json* v = take(key);
  if (!v) return status();
  if (v->is_number_integer() && !(v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)) {
    out = v->get<int64_t>();
    return status();
  }
  return type_error(path_of(key), "an integer", *v);
}

status field_reader::get_bool(const char* key, std::optional<bool>& out) {
  const json* v = take(key);
  if (!v) return status();
  if (!v->is_boolean()) return type_error(path_of(key), "a boolean", *v);
  out = v->get<bool>();
  return status();
}

status field_reader::get_string_list(const char* key,
                                     std::optional<std::vector<std::string>>& out) {
  const json* v = take(key);
  if (!v) return status();
  if (!v->is_array()) return type_error(path_of(key), "an array", *v);
  std::vector<std::string> items;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_string())
      return type_error(path_of(key) + "[" + std::to_string(i) + "]", "a string", e);
    items.push_back(e.get<std::string>());
  }
  out = std::move(items);
  return status();
}

status field_reader::get_string_map(const char* key,
                                    std::optional<std::map<std::string, std::string>>& out) {
  const json* v = take(key);
  if (!v) return status();
  if (!v->is_object()) return type_error(path_of(key), "an object", *v);
  std::map<std::string, std::string> m;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string())
      return type_error(path_of(key) + "." + it.key(), "a string", it.value());
    m[it.key()] = it.value().get<std::string>();
  }
  out = std::move(m);
  return status();
}

void field_reader::get_raw(const char* key, std::optional<json>& out) {
  const json* v = take(key);
  if (v) out = *v;
}

json field_reader::finish() {
  json extra = json::object();
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (consumed_.count(it.key())) continue;
    extra[it.key()] = it.value();
    if (warnings_) warnings_->push_back("unknown field \"" + join_path(path_, it.key()) + "\"");
  }
  return extra;
}

void put(json& j, const char* key, const std::optional<std::string>& v) {
  if (v) j[key] = *v;
}
void put(json& j, const char* key, const std::optional<int64_t>& v) {
  if (v) j[key] = *v;
}
void put(json& j, const char* key, const std::optional<bool>& v) {
  if (v) j[key] = *v;
}
void put(json& j, const char* key, const std::optional<std::vector<std::string>>& v) {
  if (v) j[key] = *v;
}
void put(json& j, const char* key, const std::optional<std::map<std::string, std::string>>& v) {
  if (v) j[key] = *v;
}
void put(json& j, const char* key, const std::optional<json>& v) {
  if (v) j[key] = *v;
}
void put_extra(json& j, const json& extra) {
  if (!extra.is_object()) return;
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
}

}  // namespace kaito::api
