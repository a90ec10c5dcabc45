// Label and field selectors; see selectors.h.
#include "k8s/apiserver/selectors.h"

#include <algorithm>
#include <cctype>

namespace kaito::k8s::apiserver {

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool valid_key(const std::string& k) {
  if (k.empty() || k.size() > 316) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/'))
      return false;
  return true;
}

bool valid_value(const std::string& v) {
  if (v.size() > 63) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

const json* label(const json& labels, const std::string& key) {
  if (!labels.is_object()) return nullptr;
  auto it = labels.find(key);
  return it == labels.end() || !it->is_string() ? nullptr : &*it;
}

// Dotted path lookup rendered as a string ("" when missing).
std::string field_value(const json& obj, const std::string& path) {
  const json* cur = &obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

bool field_supported(const std::string& field, const std::string& resource) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  static const std::vector<std::string> events = {"involvedObject.kind",
                                                  "involvedObject.namespace",
                                                  "involvedObject.name",
                                                  "involvedObject.uid",
                                                  "involvedObject.apiVersion",
                                                  "involvedObject.resourceVersion",
                                                  "involvedObject.fieldPath",
                                                  "reason",
                                                  "reportingComponent",
                                                  "source",
                                                  "type"};
  static const std::vector<std::string> pods = {
      "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",      "spec.serviceAccountName",
      "status.phase",  "status.podIP",       "status.nominatedNodeName"};
  auto in = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), field) != v.end();
  };
  if (resource == "events") return in(events);
  if (resource == "pods") return in(pods);
  if (resource == "namespaces") return field == "status.phase";
  if (resource == "secrets") return field == "type";
  if (resource == "jobs") return field == "status.successful";
  if (resource == "nodes") return field == "spec.unschedulable";
  return false;
}

}  // namespace

bool label_selector::matches(const json& labels) const {
  for (const auto& r : reqs) {
    const json* v = label(labels, r.key);
    switch (r.kind) {
      case label_requirement::op::exists:
        if (!v) return false;
        break;
      case label_requirement::op::not_exists:
        if (v) return false;
        break;
      case label_requirement::op::eq:
      case label_requirement::op::in:
        if (!v ||
            std::find(r.values.begin(), r.values.end(), v->get<std::string>()) == r.values.end())
          return false;
        break;
      case label_requirement::op::neq:
      case label_requirement::op::notin:
        if (v &&
            std::find(r.values.begin(), r.values.end(), v->get<std::string>()) != r.values.end())
          return false;
        break;
    }
  }
  return true;
}

result<label_selector> parse_label_selector(const std::string& text) {
  label_selector sel;
  if (trim(text).empty()) return sel;
  for (const auto& raw : split_top(text)) {
    std::string part = trim(raw);
    if (part.empty())
      return invalid_argument("empty requirement in label selector \"" + text + "\"");
    label_requirement r;
    size_t p;
    if (part[0] == '!') {
      r.kind = label_requirement::op::not_exists;
      r.key = trim(part.substr(1));
    } else if ((p = part.find("!=")) != std::string::npos) {
      r.kind = label_requirement::op::neq;
      r.key = trim(part.substr(0, p));
      r.values = {trim(part.substr(p + 2))};
    } else if ((p = part.find("==")) != std::string::npos) {
      r.key = trim(part.substr(0, p));
      r.values = {trim(part.substr(p + 2))};
    } else if ((p = part.find('=')) != std::string::npos) {
      r.key = trim(part.substr(0, p));
      r.values = {trim(part.substr(p + 1))};
    } else if ((p = part.find('(')) != std::string::npos) {
      if (part.back() != ')')
        return invalid_argument("unterminated set in label selector \"" + text + "\"");
      std::string head = trim(part.substr(0, p));
      size_t sp = head.find_last_of(" \t");
      if (sp == std::string::npos)
        return invalid_argument("invalid label selector \"" + text + "\"");
      std::string opname = trim(head.substr(sp + 1));
      r.key = trim(head.substr(0, sp));
      if (opname == "in")
        r.kind = label_requirement::op::in;
      else if (opname == "notin")
        r.kind = label_requirement::op::notin;
      else
        return invalid_argument("unknown operator \"" + opname + "\" in label selector");
      std::string inner = part.substr(p + 1, part.size() - p - 2);
      size_t start = 0;
      while (true) {
        size_t c = inner.find(',', start);
        std::string v =
            trim(inner.substr(start, c == std::string::npos ? std::string::npos : c - start));
        if (!valid_value(v)) return invalid_argument("invalid label value \"" + v + "\"");
        r.values.push_back(v);
        if (c == std::string::npos) break;
        start = c + 1;
      }
    } else {
      r.kind = label_requirement::op::exists;
      r.key = part;
    }
    if (!valid_key(r.key)) return invalid_argument("invalid label key \"" + r.key + "\"");
    for (const auto& v : r.values)
      if (!valid_value(v)) return invalid_argument("invalid label value \"" + v + "\"");
    sel.reqs.push_back(std::move(r));
  }
  return sel;
}

bool field_selector::matches(const json& obj) const {
  for (const auto& r : reqs) {
    bool eq = field_value(obj, r.field) == r.value;
    if (eq == r.negate) return false;
  }
  return true;
}

result<field_selector> parse_field_selector(const std::string& text, const std::string& resource) {
  field_selector sel;
  if (trim(text).empty()) return sel;
  size_t start = 0;
  while (true) {
    size_t c = text.find(',', start);
    std::string part =
        trim(text.substr(start, c == std::string::npos ? std::string::npos : c - start));
    field_requirement r;
    size_t p;
    if ((p = part.find("!=")) != std::string::npos) {
      r.negate = true;
      r.field = trim(part.substr(0, p));
      r.value = trim(part.substr(p + 2));
    } else if ((p = part.find("==")) != std::string::npos) {
      r.field = trim(part.substr(0, p));
      r.value = trim(part.substr(p + 2));
    } else if ((p = part.find('=')) != std::string::npos) {
      r.field = trim(part.substr(0, p));
      r.value = trim(part.substr(p + 1));
    } else {
      return invalid_argument("invalid selector: '" + text + "'; can't understand '" + part + "'");
    }
    if (!field_supported(r.field, resource))
      return invalid_argument("field label not supported: " + r.field);
    sel.reqs.push_back(std::move(r));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return sel;
}

}  // namespace kaito::k8s::apiserver
