// json_schema; see json_schema.h (schema_compiler: json_schema_compiler.h).
#include "engine/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "engine/json_schema_compiler.h"

namespace kaito::engine {

namespace schema_detail {

// The assertions we cannot enforce (annotations and unknown keywords are ignored).
// clang-format off
const std::set<std::string_view> kUnsupported = {
    "patternProperties", "propertyNames", "minProperties", "maxProperties",
    "dependencies", "dependentRequired", "dependentSchemas", "if", "then", "else", "not",
    "contains", "minContains", "maxContains", "uniqueItems", "multipleOf", "unevaluatedProperties",
    "unevaluatedItems", "$dynamicRef", "$recursiveRef"};
// clang-format on
// The assertions we enforce (none may stand beside anyOf / oneOf / allOf / $ref).
// clang-format off
const std::set<std::string_view> kAssertions = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "prefixItems", "additionalItems", "minItems", "maxItems", "minLength", "maxLength", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable", "pattern"};
// clang-format on

status unsupported(const std::string& what, const std::string& where) {
  return status(status_code::unimplemented,
                what + " is not supported in a schema for constrained generation", where);
}

std::string text_of(const ojson& v) {
  return v.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

// The types whose values `v` is (an integral float is an integer too, as JSON Schema says).
uint8_t types_of(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null:
      return node::t_null;
    case ojson::value_t::boolean:
      return node::t_boolean;
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned:
      return node::t_integer | node::t_number;
    case ojson::value_t::number_float: {
      const double d = v.get<double>();
      return std::isfinite(d) && d == std::floor(d) ? node::t_integer | node::t_number
                                                    : node::t_number;
    }
    case ojson::value_t::string:
      return node::t_string;
    case ojson::value_t::array:
      return node::t_array;
    default:
      return node::t_object;
  }
}

result<int64_t> count_of(const ojson& v, const std::string& where) {
  if (v.is_number_unsigned())
    return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), uint64_t{1} << 62));
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() == std::floor(v.get<double>()))
    return static_cast<int64_t>(std::min(v.get<double>(), 4.0e18));
  return invalid_argument("must be a non-negative integer, not " + text_of(v), where);
}

int64_t clamp_integer(long double x) {
  if (x <= -9.2e18L) return INT64_MIN;
  if (x >= 9.2e18L) return INT64_MAX;
  return static_cast<int64_t>(x);
}

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

}  // namespace schema_detail

using namespace schema_detail;

result<std::shared_ptr<const json_schema>> schema_compiler::run() {
  out_.nodes_.emplace_back();  // node 0: any value
  out_.nodes_[0].items = node::kAny;
  KAITO_ASSIGN_OR_RETURN(out_.root_, compile(root_, where_, "", 0));
  if (out_.root_ == node::kNone)
    return invalid_argument("the schema is false: it admits no value", where_);
  KAITO_TRY(find_leaves());
  prove_finite();
  if (!sat_[static_cast<size_t>(out_.root_)])
    return invalid_argument(
        "the schema admits no finite value (a required property, an item minItems needs, or "
        "every branch of an anyOf refers back to itself or admits nothing)",
        where_);
  prune();
  return std::make_shared<const json_schema>(std::move(out_));
}

result<int32_t> schema_compiler::compile(const ojson& s, const std::string& path,
                                         const std::string& pointer, int depth) {
  if (depth > kMaxSchemaDepth)
    return invalid_argument(
        "the schema nests deeper than " + std::to_string(kMaxSchemaDepth) + " levels", path);
  if (s.is_boolean()) return s.get<bool>() ? node::kAny : node::kNone;
  if (!s.is_object())
    return invalid_argument("a schema is an object or a boolean, not " + text_of(s), path);
  if (auto it = by_pointer_.find(pointer); it != by_pointer_.end()) return it->second;
  const auto idx = static_cast<int32_t>(out_.nodes_.size());
  out_.nodes_.emplace_back();
  by_pointer_[pointer] = idx;
  KAITO_ASSIGN_OR_RETURN(node n, fill(s, path, pointer, depth));
  out_.nodes_[static_cast<size_t>(idx)] = std::move(n);
  return idx;
}

result<node> schema_compiler::fill(const ojson& s, const std::string& path,
                                   const std::string& pointer, int depth) {
  node n;
  const char* combinator = nullptr;
  const char* assertion = nullptr;
  for (const auto& [k, v] : s.items()) {
    if (kUnsupported.count(k) && !(k == "uniqueItems" && v.is_boolean() && !v.get<bool>()))
      return unsupported("\"" + k + "\"", path + "." + k);
    if (kAssertions.count(k) && k != "nullable") assertion = kAssertions.find(k)->data();
    if (k == "anyOf" || k == "oneOf" || k == "allOf" || k == "$ref") {
      if (combinator)
        return unsupported("\"" + k + "\" beside \"" + combinator + "\"", path + "." + k);
      combinator = k == "anyOf"   ? "anyOf"
                   : k == "oneOf" ? "oneOf"
                   : k == "allOf" ? "allOf"
                                  : "$ref";
    }
  }
  if (combinator) {
    if (assertion)
      return unsupported("\"" + std::string(combinator) + "\" beside \"" + assertion + "\"",
                         path + "." + assertion);
    const ojson& v = s.at(combinator);
    const std::string at = path + "." + combinator;
    // OpenAPI 3.0's {"$ref": ..., "nullable": true}: null is one more branch
    if (auto it = s.find("nullable"); it != s.end() && it->is_boolean() && it->get<bool>()) {
      n.any_of.push_back(static_cast<int32_t>(out_.nodes_.size()));
      out_.nodes_.emplace_back();
      out_.nodes_.back().types = node::t_null;
    }
    if (std::string_view(combinator) == "$ref") {
      KAITO_ASSIGN_OR_RETURN(int32_t target, compile_ref(v, at, depth));
      if (target != node::kNone) n.any_of.push_back(target);
      return n;
    }
    if (!v.is_array() || v.empty())
      return invalid_argument("must be a non-empty array of schemas", at);
    if (std::string_view(combinator) == "allOf" && v.size() > 1)
      return unsupported("\"allOf\" of more than one schema", at);
    for (size_t i = 0; i < v.size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(
          int32_t alt, compile(v[i], at + "[" + std::to_string(i) + "]",
                               pointer + "/" + combinator + "/" + std::to_string(i), depth + 1));
      if (alt != node::kNone) n.any_of.push_back(alt);
    }
    return n;
  }
  KAITO_TRY(read_types(s, path, n));
  KAITO_TRY(read_literals(s, path, n));
  KAITO_TRY(read_string(s, path, n));
  KAITO_TRY(read_bounds(s, path, n));
  KAITO_TRY(read_array(s, path, pointer, depth, n));
  KAITO_TRY(read_object(s, path, pointer, depth, n));
  return n;
}

result<int32_t> schema_compiler::compile_ref(const ojson& v, const std::string& at, int depth) {
  if (!v.is_string()) return invalid_argument("must be a string", at);
  const auto& ref = v.get_ref<const std::string&>();
  if (ref.empty() || ref[0] != '#')
    return unsupported("a reference outside the schema (" + text_of(v) + ")", at);
  // the fragment as a JSON pointer (percent-escapes of a URI fragment decoded)
  std::string frag;
  for (size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] == '%' && i + 2 < ref.size() &&
        std::isxdigit(static_cast<unsigned char>(ref[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(ref[i + 2]))) {
      frag += static_cast<char>(std::stoi(ref.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      frag += ref[i];
    }
  }
  if (!frag.empty() && frag[0] != '/')
    return unsupported("an anchor reference (" + text_of(v) + "); use a JSON pointer \"#/...\"",
                       at);
  const ojson* target = &root_;
  std::string pointer, path = where_;
  size_t pos = 1;
  while (!frag.empty() && pos <= frag.size()) {
    size_t end = frag.find('/', pos);
    if (end == std::string::npos) end = frag.size();
    std::string token;
    for (size_t i = pos; i < end; ++i) {
      if (frag[i] == '~' && i + 1 < end && (frag[i + 1] == '0' || frag[i + 1] == '1')) {
        token += frag[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += frag[i];
      }
    }
    if (target->is_object() && target->contains(token)) {
      target = &(*target)[token];
    } else if (target->is_array() && !token.empty() &&
               token.find_first_not_of("0123456789") == std::string::npos && token.size() < 10 &&
               std::stoul(token) < target->size()) {
      target = &(*target)[std::stoul(token)];
    } else {
      return invalid_argument(text_of(v) + " points at nothing in the schema", at);
    }
    pointer += "/" + pointer_token(token);
    path += "." + token;
    pos = end + 1;
  }
  return compile(*target, path, pointer, depth + 1);
}

result<std::shared_ptr<const json_schema>> json_schema::compile(const nlohmann::ordered_json& s,
                                                                const std::string& where) {
  return schema_compiler(s, where).run();
}

result<std::shared_ptr<const json_schema>> json_schema::parse(std::string_view text,
                                                              const std::string& where) {
  ojson j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("is not valid JSON", where);
  return compile(j, where);
}

}  // namespace kaito::engine
