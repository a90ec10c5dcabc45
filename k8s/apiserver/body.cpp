// Request body decoding; see body.h.
#include "k8s/apiserver/body.h"

#include "protocol/api/yaml.h"

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

// YAML goes through the one decoder of protocol/api: Kubernetes' scalar resolution, line/column
// errors, and caps on depth and alias expansion (an alias bomb in a request body is refused).
result<json> parse_yaml_body(std::string_view body) {
  if (flow_depth(body) > kMaxDepth || indent_depth(body) > 4 * kMaxDepth)
    return invalid_argument("document nested too deeply");
  return api::decode_yaml(body);
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
  return api::decode_yaml_documents(text);
}

}  // namespace kaito::k8s::apiserver
