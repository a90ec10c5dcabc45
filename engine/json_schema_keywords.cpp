// schema_compiler: the assertions of one schema object (json_schema_compiler.h).
#include "engine/json_schema_compiler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

namespace kaito::engine {

using namespace schema_detail;

status schema_compiler::read_types(const ojson& s, const std::string& path, node& n) {
  auto bit = [](const std::string& t) -> uint8_t {
    if (t == "null") return node::t_null;
    if (t == "boolean") return node::t_boolean;
    if (t == "integer") return node::t_integer;
    if (t == "number") return node::t_number;
    if (t == "string") return node::t_string;
    if (t == "array") return node::t_array;
    if (t == "object") return node::t_object;
    return 0;
  };
  const char* want =
      "a type name (\"null\", \"boolean\", \"integer\", \"number\", \"string\", \"array\", "
      "\"object\") or a non-empty list of them";
  if (auto it = s.find("type"); it != s.end()) {
    const ojson& t = *it;
    n.types = 0;
    if (t.is_string()) {
      n.types = bit(t.get<std::string>());
      if (!n.types)
        return invalid_argument(std::string(want) + ", not " + text_of(t), path + ".type");
    } else if (t.is_array() && !t.empty()) {
      for (size_t i = 0; i < t.size(); ++i) {
        const uint8_t b = t[i].is_string() ? bit(t[i].get<std::string>()) : 0;
        if (!b)
          return invalid_argument(std::string(want) + ", not " + text_of(t[i]),
                                  path + ".type[" + std::to_string(i) + "]");
        n.types |= b;
      }
    } else {
      return invalid_argument(std::string(want) + ", not " + text_of(t), path + ".type");
    }
  }
  if (auto it = s.find("nullable"); it != s.end() && it->is_boolean() && it->get<bool>())
    n.types |= node::t_null;  // OpenAPI 3.0's
  return {};
}

status schema_compiler::read_literals(const ojson& s, const std::string& path, node& n) {
  const auto e = s.find("enum");
  const auto c = s.find("const");
  if (e == s.end() && c == s.end()) return {};
  std::vector<const ojson*> values;
  if (e != s.end()) {
    if (!e->is_array() || e->empty())
      return invalid_argument("must be a non-empty array", path + ".enum");
    for (const auto& v : *e) values.push_back(&v);
  }
  if (c != s.end()) {
    if (e != s.end())
      std::erase_if(values, [&](const ojson* v) { return *v != *c; });
    else
      values.push_back(&*c);
  }
  n.literal_only = true;
  for (const ojson* v : values)
    if (types_of(*v) & n.types || (n.types & node::t_number && types_of(*v) & node::t_integer))
      n.literals.push_back(text_of(*v));
  std::sort(n.literals.begin(), n.literals.end());
  n.literals.erase(std::unique(n.literals.begin(), n.literals.end()), n.literals.end());
  return {};
}

status schema_compiler::read_string(const ojson& s, const std::string& path, node& n) {
  if (auto it = s.find("minLength"); it != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.min_length, count_of(*it, path + ".minLength"));
  }
  if (auto it = s.find("maxLength"); it != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.max_length, count_of(*it, path + ".maxLength"));
  }
  const auto it = s.find("pattern");
  if (it == s.end()) return {};
  if (!it->is_string()) return invalid_argument("must be a string", path + ".pattern");
  if (!(n.types & node::t_string) && !n.literal_only) return {};    // (no string to hold to it)
  if (n.max_length >= 0 && n.min_length > n.max_length) return {};  // (the prover refuses)
  KAITO_ASSIGN_OR_RETURN(
      n.pattern, json_regex::compile(it->get_ref<const std::string&>(), n.min_length, n.max_length,
                                     path + ".pattern"));
  if (n.literal_only)  // an enum's or const's strings that do not match it go
    std::erase_if(n.literals, [&](const std::string& text) {
      const ojson v = ojson::parse(text, nullptr, false);
      return v.is_string() && !n.pattern->matches(v.get_ref<const std::string&>());
    });
  return {};
}

status schema_compiler::read_bounds(const ojson& s, const std::string& path, node& n) {
  const char* names[] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
  bool any = false;
  for (const char* k : names) {
    const auto it = s.find(k);
    if (it == s.end()) continue;
    if (!it->is_number() && !(it->is_boolean() && std::string_view(k).starts_with("exclusive")))
      return invalid_argument("must be a number", path + "." + k);
    any = true;
  }
  if (!any || !(n.types & (node::t_integer | node::t_number)) || n.literal_only) return {};
  auto num = [&](const char* k) { return static_cast<long double>(s.at(k).get<double>()); };
  const auto xmin = s.find("exclusiveMinimum"), xmax = s.find("exclusiveMaximum");
  const bool draft4_xmin = xmin != s.end() && xmin->is_boolean() && xmin->get<bool>();
  const bool draft4_xmax = xmax != s.end() && xmax->is_boolean() && xmax->get<bool>();
  if (n.types & node::t_number) {  // the tightest of each side; at a tie the exclusive one
    auto lower = [&](double v, bool exclusive) {
      if (n.has_num_min && (v < n.num_min || (v == n.num_min && !exclusive))) return;
      n.has_num_min = true, n.num_min = v, n.num_min_exclusive = exclusive;
    };
    auto upper = [&](double v, bool exclusive) {
      if (n.has_num_max && (v > n.num_max || (v == n.num_max && !exclusive))) return;
      n.has_num_max = true, n.num_max = v, n.num_max_exclusive = exclusive;
    };
    if (s.contains("minimum")) lower(s.at("minimum").get<double>(), draft4_xmin);
    if (s.contains("maximum")) upper(s.at("maximum").get<double>(), draft4_xmax);
    if (xmin != s.end() && xmin->is_number()) lower(xmin->get<double>(), true);
    if (xmax != s.end() && xmax->is_number()) upper(xmax->get<double>(), true);
    return {};
  }
  auto lower = [&](int64_t v) {
    n.minimum = n.has_minimum ? std::max(n.minimum, v) : v;
    n.has_minimum = true;
  };
  auto upper = [&](int64_t v) {
    n.maximum = n.has_maximum ? std::min(n.maximum, v) : v;
    n.has_maximum = true;
  };
  if (s.contains("minimum"))
    lower(draft4_xmin ? clamp_integer(std::floor(num("minimum")) + 1)
                      : clamp_integer(std::ceil(num("minimum"))));
  if (s.contains("maximum"))
    upper(draft4_xmax ? clamp_integer(std::ceil(num("maximum")) - 1)
                      : clamp_integer(std::floor(num("maximum"))));
  if (xmin != s.end() && xmin->is_number())
    lower(clamp_integer(std::floor(num("exclusiveMinimum")) + 1));
  if (xmax != s.end() && xmax->is_number())
    upper(clamp_integer(std::ceil(num("exclusiveMaximum")) - 1));
  return {};
}

status schema_compiler::read_array(const ojson& s, const std::string& path,
                                   const std::string& pointer, int depth, node& n) {
  const auto items = s.find("items"), prefix = s.find("prefixItems");
  auto list = [&](const ojson& v, const char* k) -> status {
    for (size_t i = 0; i < v.size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(int32_t at,
                             compile(v[i], path + "." + k + "[" + std::to_string(i) + "]",
                                     pointer + "/" + k + "/" + std::to_string(i), depth + 1));
      n.prefix_items.push_back(at);
    }
    return {};
  };
  if (prefix != s.end()) {
    if (!prefix->is_array())
      return invalid_argument("must be an array of schemas", path + ".prefixItems");
    if (items != s.end() && items->is_array())
      return invalid_argument("an array beside prefixItems (draft 2020-12 takes a schema here)",
                              path + ".items");
    KAITO_TRY(list(*prefix, "prefixItems"));
  }
  if (items != s.end() && items->is_array()) {  // draft 4-2019: a tuple, then additionalItems
    KAITO_TRY(list(*items, "items"));
    if (auto rest = s.find("additionalItems"); rest != s.end()) {
      KAITO_ASSIGN_OR_RETURN(n.items, compile(*rest, path + ".additionalItems",
                                              pointer + "/additionalItems", depth + 1));
    }
  } else if (items != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.items,
                           compile(*items, path + ".items", pointer + "/items", depth + 1));
  }
  if (auto it = s.find("minItems"); it != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.min_items, count_of(*it, path + ".minItems"));
  }
  if (auto it = s.find("maxItems"); it != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.max_items, count_of(*it, path + ".maxItems"));
  }
  return {};
}

status schema_compiler::read_object(const ojson& s, const std::string& path,
                                    const std::string& pointer, int depth, node& n) {
  if (auto it = s.find("additionalProperties"); it != s.end()) {
    KAITO_ASSIGN_OR_RETURN(n.additional, compile(*it, path + ".additionalProperties",
                                                 pointer + "/additionalProperties", depth + 1));
  }
  std::vector<std::tuple<std::string, int32_t, bool>> keys;  // encoded name, schema, required
  std::map<std::string, size_t> by_name;
  if (auto it = s.find("properties"); it != s.end()) {
    if (!it->is_object()) return invalid_argument("must be an object", path + ".properties");
    for (const auto& [name, sub] : it->items()) {
      KAITO_ASSIGN_OR_RETURN(int32_t at,
                             compile(sub, path + ".properties." + name,
                                     pointer + "/properties/" + pointer_token(name), depth + 1));
      by_name[name] = keys.size();
      const std::string quoted = text_of(ojson(name));
      keys.emplace_back(quoted.substr(1, quoted.size() - 2), at, false);
    }
  }
  if (auto it = s.find("required"); it != s.end()) {
    if (!it->is_array()) return invalid_argument("must be an array of names", path + ".required");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string at = path + ".required[" + std::to_string(i) + "]";
      if (!(*it)[i].is_string()) return invalid_argument("must be a string", at);
      const auto& name = (*it)[i].get_ref<const std::string&>();
      if (auto b = by_name.find(name); b != by_name.end()) {
        std::get<2>(keys[b->second]) = true;
        continue;
      }
      if (n.additional == node::kNone)
        return invalid_argument("\"" + name +
                                    "\" is required, but it is not in properties and "
                                    "additionalProperties is false",
                                at);
      by_name[name] = keys.size();
      const std::string quoted = text_of(ojson(name));
      keys.emplace_back(quoted.substr(1, quoted.size() - 2), n.additional, true);
    }
  }
  if (keys.size() > kMaxKeys)
    return unsupported("an object with more than " + std::to_string(kMaxKeys) + " properties",
                       path + ".properties");
  std::sort(keys.begin(), keys.end());
  for (const auto& [key, at, required] : keys) {
    if (required) n.required |= uint64_t{1} << n.keys.size();
    n.keys.push_back(key);
    n.key_nodes.push_back(at);
  }
  return {};
}

}  // namespace kaito::engine
