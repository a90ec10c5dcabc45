// Request body decoding; see body.h.
#include "k8s/apiserver/body.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace kaito::k8s::apiserver {

namespace {

// Rough nesting depth of flow collections, used to refuse pathological YAML before yaml-cpp
// recurses.
int flow_depth(std::string_view s) {
  int depth = 0, max = 0;
  for (char c : s) {
    if (c == '[' || c == '{') max = std::max(max, ++depth);
    if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return max;
}

int indent_depth(std::string_view s) {
  int max = 0, cur = 0;
  bool at_start = true;
  for (char c : s) {
    if (c == '\n') {
      at_start = true;
      cur = 0;
    } else if (at_start && (c == ' ' || c == '-')) {
      ++cur;
    } else {
      if (at_start) max = std::max(max, cur);
      at_start = false;
    }
  }
  return max;
}

result<json> scalar(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return json(v);
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") return json(nullptr);
  if (v == "true" || v == "True" || v == "TRUE") return json(true);
  if (v == "false" || v == "False" || v == "FALSE") return json(false);
  {
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(v.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0 &&
        v.find_first_not_of("+-0123456789") == std::string::npos)
      return json(i);
  }
  if (v.find_first_not_of("+-0123456789.eE") == std::string::npos &&
      v.find_first_of("0123456789") != std::string::npos) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(d)) return json(d);
  }
  return json(v);
}

result<json> convert(const YAML::Node& n, int depth) {
  if (depth > kMaxDepth) return invalid_argument("document nested too deeply");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return scalar(n);
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) {
        KAITO_ASSIGN_OR_RETURN(json v, convert(e, depth + 1));
        a.push_back(std::move(v));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return invalid_argument("mapping keys must be scalars");
        KAITO_ASSIGN_OR_RETURN(json v, convert(kv.second, depth + 1));
        o[kv.first.Scalar()] = std::move(v);
      }
      return o;
    }
  }
  return invalid_argument("unknown YAML node");
}

}  // namespace

std::string media_type(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.erase(t.begin());
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  return t;
}

body_format body_format_of(std::string_view content_type) {
  std::string t = media_type(content_type);
  if (t.empty() || t == "application/json" || t == "application/merge-patch+json" ||
      t == "application/json-patch+json" || t == "application/strategic-merge-patch+json" ||
      t == "*/*")
    return body_format::json;
  if (t == "application/yaml" || t == "application/apply-patch+yaml" || t == "text/yaml")
    return body_format::yaml;
  return body_format::unsupported;
}

result<json> parse_json_body(std::string_view body) {
  bool too_deep = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  try {
    json j = json::parse(body.begin(), body.end(), cb, true);
    if (too_deep) return invalid_argument("document nested too deeply");
    return j;
  } catch (const json::parse_error& e) {
    return invalid_argument(e.what(), "byte " + std::to_string(e.byte));
  } catch (const json::exception& e) {
    return invalid_argument(e.what());
  }
}

result<json> parse_yaml_body(std::string_view body) {
  if (flow_depth(body) > kMaxDepth || indent_depth(body) > 4 * kMaxDepth)
    return invalid_argument("document nested too deeply");
  try {
    YAML::Node n = YAML::Load(std::string(body));
    return convert(n, 0);
  } catch (const YAML::Exception& e) {
    return invalid_argument(
        e.msg, std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1));
  } catch (const std::exception& e) {
    return invalid_argument(e.what());
  }
}

result<json> decode_body(std::string_view body, body_format fmt) {
  if (fmt == body_format::json) return parse_json_body(body);
  if (fmt == body_format::yaml) {
    // JSON is valid YAML; parse it as JSON first for exact numbers and errors.
    size_t i = body.find_first_not_of(" \t\r\n");
    if (i != std::string_view::npos && (body[i] == '{' || body[i] == '[')) {
      auto j = parse_json_body(body);
      if (j.ok()) return j;
    }
    return parse_yaml_body(body);
  }
  return invalid_argument("unsupported media type");
}

}  // namespace kaito::k8s::apiserver

namespace kaito::k8s::apiserver {

result<std::vector<json>> parse_yaml_documents(std::string_view text) {
  if (flow_depth(text) > kMaxDepth || indent_depth(text) > 4 * kMaxDepth)
    return invalid_argument("document nested too deeply");
  std::vector<json> out;
  try {
    for (const auto& doc : YAML::LoadAll(std::string(text))) {
      KAITO_ASSIGN_OR_RETURN(json j, convert(doc, 0));
      if (!j.is_null()) out.push_back(std::move(j));
    }
  } catch (const YAML::Exception& e) {
    return invalid_argument(
        e.msg, std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1));
  }
  return out;
}

}  // namespace kaito::k8s::apiserver
