// The JSONPath subset used by printer columns; see tables.h.
#include <cctype>

#include "k8s/apiserver/tables.h"

namespace kaito::k8s::apiserver {

namespace {

// Parses `path` into steps; false when malformed.
struct step {
  enum class kind { field, index, all, filter } k = kind::field;
  std::string name;          // field
  long index = 0;            // index
  std::string filter_path;   // filter: dotted path after @
  std::string filter_value;  // filter: literal
  bool filter_negate = false;
};

bool parse(std::string p, std::vector<step>& out) {
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  if (!p.empty() && p[0] == '$') p = p.substr(1);
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      size_t b = i;
      while (i < p.size() && p[i] != '.' && p[i] != '[') ++i;
      if (i == b) return false;
      out.push_back({step::kind::field, p.substr(b, i - b)});
    } else if (p[i] == '[') {
      size_t e = p.find(']', i);
      if (p.compare(i, 3, "[?(") == 0)
        e = p.find(")]", i) == std::string::npos ? e : p.find(")]", i) + 1;
      if (e == std::string::npos) return false;
      std::string in = p.substr(i + 1, e - i - 1);
      i = e + 1;
      step s;
      if (in == "*") {
        s.k = step::kind::all;
      } else if (in.size() >= 2 && (in.front() == '\'' || in.front() == '"')) {
        s.k = step::kind::field;
        s.name = in.substr(1, in.size() - 2);
      } else if (in.rfind("?(", 0) == 0 && in.back() == ')') {
        std::string cond = in.substr(2, in.size() - 3);
        size_t op = cond.find("==");
        size_t len = 2;
        if (op == std::string::npos) {
          op = cond.find("!=");
          s.filter_negate = true;
        }
        if (op == std::string::npos || cond.rfind("@.", 0) != 0) return false;
        s.k = step::kind::filter;
        s.filter_path = cond.substr(2, op - 2);
        while (!s.filter_path.empty() && s.filter_path.back() == ' ') s.filter_path.pop_back();
        std::string lit = cond.substr(op + len);
        while (!lit.empty() && lit.front() == ' ') lit.erase(lit.begin());
        if (lit.size() >= 2 && (lit.front() == '"' || lit.front() == '\''))
          lit = lit.substr(1, lit.size() - 2);
        s.filter_value = lit;
      } else {
        if (in.empty()) return false;
        char* end = nullptr;
        s.index = std::strtol(in.c_str(), &end, 10);
        if (*end != '\0') return false;
        s.k = step::kind::index;
      }
      out.push_back(s);
    } else {
      return false;
    }
  }
  return true;
}

const json* dotted(const json& j, const std::string& path) {
  const json* cur = &j;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

std::string scalar_text(const json& v) {
  return v.is_string() ? v.get<std::string>()
                       : v.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::vector<json> json_path(const json& obj, const std::string& path) {
  std::vector<step> steps;
  if (!parse(path, steps)) return {};
  std::vector<const json*> cur = {&obj};
  for (const auto& s : steps) {
    std::vector<const json*> next;
    for (const json* c : cur) {
      switch (s.k) {
        case step::kind::field:
          if (c->is_object())
            if (auto it = c->find(s.name); it != c->end()) next.push_back(&*it);
          break;
        case step::kind::index:
          if (c->is_array()) {
            long n = static_cast<long>(c->size());
            long i = s.index < 0 ? n + s.index : s.index;
            if (i >= 0 && i < n) next.push_back(&(*c)[static_cast<size_t>(i)]);
          }
          break;
        case step::kind::all:
          if (c->is_array() || c->is_object())
            for (const auto& e : *c) next.push_back(&e);
          break;
        case step::kind::filter:
          if (c->is_array())
            for (const auto& e : *c) {
              const json* v = dotted(e, s.filter_path);
              bool eq = v && scalar_text(*v) == s.filter_value;
              if (eq != s.filter_negate) next.push_back(&e);
            }
          break;
      }
    }
    cur = std::move(next);
  }
  std::vector<json> out;
  for (const json* c : cur) out.push_back(*c);
  return out;
}

}  // namespace kaito::k8s::apiserver
