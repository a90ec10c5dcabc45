// encode_yaml: block-style YAML from json (contract in protocol/api/yaml.h).
#include <string>

#include "protocol/api/yaml.h"

namespace kaito::api {

namespace {

json resolve_plain_for_check(const std::string& s) {
  // Round-trip through the decoder: a plain scalar is safe only if it reads back as this string.
  auto r = decode_yaml_documents("k: " + s + "\n");
  if (!r.ok() || r->size() != 1 || !(*r)[0].is_object() || (*r)[0].size() != 1 ||
      !(*r)[0].contains("k"))
    return nullptr;
  return (*r)[0]["k"];
}

bool plain_safe(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  static const std::string kBadFirst = "-?:,[]{}#&*!|>'\"%@` \t";
  if (kBadFirst.find(s[0]) != std::string::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  json back = resolve_plain_for_check(s);
  return back.is_string() && back.get<std::string>() == s;
}

std::string quote(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string scalar_text(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      return plain_safe(s) ? s : quote(s);
    }
    case json::value_t::object:
      return "{}";
    case json::value_t::array:
      return "[]";
    default:
      return v.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

bool is_block(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void write_block(const json& j, int indent, std::string& out, int depth);

void write_value_after_key(const json& v, int indent, std::string& out, int depth) {
  if (is_block(v)) {
    if (depth > kMaxDepth) {
      out += " " + v.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      return;
    }
    out += "\n";
    write_block(v, indent, out, depth + 1);
  } else {
    out += " " + scalar_text(v) + "\n";
  }
}

void write_block(const json& j, int indent, std::string& out, int depth) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += pad + scalar_text(json(it.key())) + ":";
      write_value_after_key(it.value(), indent + 2, out, depth);
    }
    return;
  }
  for (const auto& item : j) {
    if (item.is_object() && !item.empty() && depth <= kMaxDepth) {
      std::string sub;
      write_block(item, indent + 2, sub, depth + 1);
      out += pad + "- " + sub.substr(static_cast<size_t>(indent + 2));
    } else {
      out += pad + "-";
      write_value_after_key(item, indent + 2, out, depth);
    }
  }
}

}  // namespace

std::string encode_yaml(const json& j) {
  if (!is_block(j)) return scalar_text(j) + "\n";
  std::string out;
  write_block(j, 0, out, 0);
  return out;
}

std::string encode_yaml_documents(const std::vector<json>& docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out += "---\n";
    out += encode_yaml(docs[i]);
  }
  return out;
}

}  // namespace kaito::api
