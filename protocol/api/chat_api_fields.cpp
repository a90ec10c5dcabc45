// chat_api_fields: body parsing, typed field readers and the messages array (see the header).
#include "protocol/api/chat_api_fields.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include "protocol/api/chat_tools.h"

namespace kaito::api::chat_fields {
namespace {

constexpr int kMaxDepth = 64;

bool is_role(const std::string& r) {
  return r == "system" || r == "user" || r == "assistant" || r == "tool";
}

// At most 40 bytes of a string the client sent (cut on a UTF-8 boundary), quoted, for a message.
std::string quote(const std::string& s) {
  if (s.size() <= 40) return "\"" + s + "\"";
  size_t n = 40;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return "\"" + s.substr(0, n) + "...\"";
}

// A content array of parts: the "text" parts joined with "\n"; any other part type refused.
result<std::string> join_parts(const ojson& parts, const std::string& path) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const ojson& part = parts[i];
    if (!part.is_object()) return wrong(part, p, "a content part {\"type\":\"text\",\"text\":...}");
    const ojson* type = field(part, "type");
    if (!type) return invalid_argument("required: the part type, \"text\"", p + ".type");
    if (!type->is_string()) return wrong(*type, p + ".type", "a string");
    const auto& t = type->get_ref<const std::string&>();
    if (t != "text")
      return unimplemented("content part type " + quote(t) + " is not implemented; only \"text\"",
                           p + ".type");
    const ojson* piece = field(part, "text");
    if (!piece) return invalid_argument("required: the part's text", p + ".text");
    if (!piece->is_string()) return wrong(*piece, p + ".text", "a string");
    if (i > 0) text += '\n';
    text += piece->get_ref<const std::string&>();
  }
  return text;
}

}  // namespace

result<ojson> parse_body(std::string_view body) {
  bool too_deep = false;
  ojson::parser_callback_t cb = [&](int depth, ojson::parse_event_t, ojson&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  ojson j;
  try {
    j = ojson::parse(body.begin(), body.end(), cb, /*allow_exceptions=*/true);
  } catch (const ojson::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while
    // parsing value - invalid literal; last read: '...'": keep the middle (the tail may hold the
    // offending bytes, which the offset already points at).
    std::string what = e.what();
    size_t col = what.find("column ");
    size_t from = col == std::string::npos ? 0 : what.find(": ", col);
    from = from == std::string::npos ? 0 : from + 2;
    size_t to = what.find("; last read");
    std::string msg = what.substr(from, to == std::string::npos ? std::string::npos : to - from);
    size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    return invalid_argument("malformed JSON: " + msg, "byte " + std::to_string(offset));
  } catch (const std::exception& e) {
    // out_of_range.406: "number overflow parsing '1e999'"; the offset is where that text starts.
    std::string what = e.what();
    size_t from = what.find("] ");
    size_t q1 = what.find('\''), q2 = what.rfind('\'');
    size_t at = q1 < q2 && q2 != std::string::npos ? body.find(what.substr(q1 + 1, q2 - q1 - 1))
                                                   : std::string_view::npos;
    return invalid_argument(
        "malformed JSON: " + what.substr(from == std::string::npos ? 0 : from + 2),
        "byte " + std::to_string(at == std::string_view::npos ? 0 : at));
  }
  if (too_deep)
    return invalid_argument(
        "expected JSON nested at most " + std::to_string(kMaxDepth) + " levels deep, got deeper",
        "byte 0");
  if (!j.is_object()) return wrong(j, "", "a JSON object as the request body");
  return j;
}

const ojson* field(const ojson& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string join(const std::string& prefix, const char* key) {
  return prefix.empty() ? std::string(key) : prefix + "." + key;
}

std::string dump_utf8(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string chat_chunk_event(const std::string& id, const std::string& model,
                             int64_t created_unix_s, ojson choice, bool usage_null) {
  ojson j = ojson::object();
  j["id"] = "chatcmpl-" + id;
  j["object"] = "chat.completion.chunk";
  j["created"] = created_unix_s;
  j["model"] = model;
  j["choices"] = ojson::array({std::move(choice)});
  if (usage_null) j["usage"] = nullptr;
  return "data: " + dump_utf8(j) + "\n\n";
}

status read_schema(const ojson& v, const std::string& path, text_format& out) {
  if (v.is_string()) {
    const ojson parsed = ojson::parse(v.get_ref<const std::string&>(), nullptr, false);
    if (parsed.is_discarded())
      return invalid_argument("expected a JSON schema; the string is not JSON", path);
    return read_schema(parsed, path, out);
  }
  if (!v.is_object() && !v.is_boolean()) return wrong(v, path, "a JSON schema (an object)");
  out.schema = dump_utf8(v);
  out.schema_where = path;
  return {};
}

status read_text_format(const ojson& format, const std::string& path, bool nested,
                        text_format& out) {
  if (!format.is_object()) return wrong(format, path, "an object {\"type\": ...}");
  const char* want = "one of \"text\", \"json_object\", \"json_schema\"";
  const ojson* type = field(format, "type");
  if (!type || !type->is_string()) return wrong(type ? *type : ojson(), path + ".type", want);
  const auto& t = type->get_ref<const std::string&>();
  out = text_format{};
  if (t == "text" || t == "json_object") {
    out.json_object = t == "json_object";
    return {};
  }
  if (t != "json_schema") return wrong(*type, path + ".type", want);
  const ojson* js = &format;
  std::string at = path;
  if (nested) {
    at = path + ".json_schema";
    js = field(format, "json_schema");
    if (!js) return invalid_argument("is required when the type is \"json_schema\"", at);
    if (!js->is_object()) return wrong(*js, at, "an object {\"name\": ..., \"schema\": {...}}");
  }
  const ojson* name = field(*js, "name");
  if (!name) return invalid_argument("is required", at + ".name");
  if (!name->is_string() || name->get_ref<const std::string&>().empty())
    return wrong(*name, at + ".name", "a non-empty string");
  bool strict = false;
  KAITO_TRY(read_bool(*js, "strict", at + ".strict", strict));
  std::string description;
  KAITO_TRY(read_string(*js, "description", at + ".description", description));
  const ojson* schema = field(*js, "schema");
  if (!schema) return invalid_argument("is required", at + ".schema");
  if (!schema->is_object() && !schema->is_boolean())
    return wrong(*schema, at + ".schema", "a JSON schema (an object)");
  return read_schema(*schema, at + ".schema", out);
}

std::string came(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null:
      return "null";
    case ojson::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned:
    case ojson::value_t::number_float:
      return v.dump();
    case ojson::value_t::string:
      return "a string";
    case ojson::value_t::array:
      return v.empty() ? "an empty array" : "an array";
    case ojson::value_t::object:
      return "an object";
    default:
      return "a binary value";
  }
}

status wrong(const ojson& v, const std::string& path, const std::string& want) {
  return invalid_argument("expected " + want + ", got " + came(v), path);
}

status unimplemented(std::string message, std::string where) {
  return status(status_code::unimplemented, std::move(message), std::move(where));
}

status read_real(const ojson& o, const char* key, const std::string& path, const char* want,
                 const std::function<bool(double)>& in_range, double& out) {
  const ojson* v = field(o, key);
  if (!v) return {};
  if (!v->is_number()) return wrong(*v, path, want);
  double d = v->get<double>();
  if (!std::isfinite(d) || !in_range(d)) return wrong(*v, path, want);
  out = d;
  return {};
}

status read_int(const ojson& o, const char* key, const std::string& path, const char* want,
                const std::function<bool(int64_t)>& in_range, int64_t& out) {
  const ojson* v = field(o, key);
  if (!v) return {};
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      return wrong(*v, path, want);
    n = v->get<int64_t>();
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (!std::isfinite(d) || d != std::floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
      return wrong(*v, path, want);
    n = static_cast<int64_t>(d);
  } else {
    return wrong(*v, path, want);
  }
  if (!in_range(n)) return wrong(*v, path, want);
  out = n;
  return {};
}

status read_bool(const ojson& o, const char* key, const std::string& path, bool& out) {
  const ojson* v = field(o, key);
  if (!v) return {};
  if (!v->is_boolean()) return wrong(*v, path, "true or false");
  out = v->get<bool>();
  return {};
}

status read_string(const ojson& o, const char* key, const std::string& path, std::string& out) {
  const ojson* v = field(o, key);
  if (!v) return {};
  if (!v->is_string()) return wrong(*v, path, "a string");
  out = v->get<std::string>();
  return {};
}

result<ojson> parse_messages(const ojson& v, const std::string& path) {
  if (!v.is_array() || v.empty()) return wrong(v, path, "a non-empty array of {role, content}");
  ojson out = ojson::array();
  for (size_t i = 0; i < v.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const ojson& m = v[i];
    if (!m.is_object()) return wrong(m, p, "a message object {role, content}");
    const ojson* role = field(m, "role");
    if (!role) return invalid_argument("required: system, user, assistant or tool", p + ".role");
    if (!role->is_string()) return wrong(*role, p + ".role", "a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system message
    if (!is_role(r))
      return invalid_argument(
          "expected system, user, assistant or tool, got " + quote(role->get<std::string>()),
          p + ".role");
    if (const ojson* fc = field(m, "function_call"))
      return unimplemented("function_call (OpenAI's older calls) is not implemented; tool_calls is",
                           join(p, "function_call"));
    ojson calls;
    if (const ojson* tc = field(m, "tool_calls"); tc && !(tc->is_array() && tc->empty())) {
      if (r != "assistant")
        return invalid_argument("only an assistant message calls tools", join(p, "tool_calls"));
      KAITO_ASSIGN_OR_RETURN(calls, read_message_tool_calls(*tc, join(p, "tool_calls")));
    }
    std::string call_id;
    if (r == "tool") KAITO_TRY(read_string(m, "tool_call_id", join(p, "tool_call_id"), call_id));
    std::string text;
    const ojson* content = field(m, "content");
    if (!content) {
      if (r != "assistant")  // (an assistant's that called tools has none)
        return invalid_argument("required: a string or an array of text parts", p + ".content");
    } else if (content->is_string()) {
      text = content->get<std::string>();
    } else if (content->is_array()) {
      KAITO_ASSIGN_OR_RETURN(text, join_parts(*content, p + ".content"));
    } else {
      return wrong(*content, p + ".content", "a string or an array of text parts");
    }
    ojson msg = ojson::object();
    msg["role"] = r;
    msg["content"] = std::move(text);
    if (!calls.is_null()) msg["tool_calls"] = std::move(calls);
    if (!call_id.empty()) msg["tool_call_id"] = std::move(call_id);
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace kaito::api::chat_fields
