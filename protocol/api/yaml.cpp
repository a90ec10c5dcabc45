#include "protocol/api/yaml.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace kaito::api {

namespace {

status error_at(int line0, int col0, const std::string& msg) {
  if (line0 < 0) return invalid_argument(msg);
  return invalid_argument(
      msg, "line " + std::to_string(line0 + 1) + ", column " + std::to_string(col0 + 1));
}
status error_at(const YAML::Mark& m, const std::string& msg) {
  return error_at(m.is_null() ? -1 : m.line, m.column, msg);
}

bool all_of(std::string_view s, size_t from, bool (*pred)(char)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (!pred(s[i])) return false;
  return true;
}
bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}

bool is_float_syntax(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_dec(s[i])) ++i, ++int_digits;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && is_dec(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  bool exp = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exp = true;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!all_of(s.substr(0, s.size()), i, is_dec)) return false;
    i = s.size();
  }
  return i == s.size() && (dot || exp);
}

// YAML 1.1 (go-yaml v2) resolution of a plain scalar. Returns a string json when nothing matches.
json resolve_plain(const std::string& s) {
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                              "on",   "On",   "ON",   "y",   "Y"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "NO",
                                               "off",   "Off",   "OFF",   "n",  "N"};
  if (kNull.count(s)) return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  std::string_view v = s;
  bool neg = false;
  size_t i = 0;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) neg = v[0] == '-', i = 1;
  int base = 0;
  if (v.size() > i + 2 && v[i] == '0' && (v[i + 1] == 'x' || v[i + 1] == 'X') &&
      all_of(v, i + 2, is_hex))
    base = 16;
  else if (v.size() > i + 2 && v[i] == '0' && v[i + 1] == 'o' && all_of(v, i + 2, is_oct))
    base = 8;
  else if (all_of(v, i, is_dec))
    base = 10;
  if (base != 0) {
    std::string digits(v.substr(base == 10 ? i : i + 2));
    errno = 0;
    unsigned long long u = std::strtoull(digits.c_str(), nullptr, base);
    if (errno == 0) {
      if (!neg && u <= static_cast<unsigned long long>(INT64_MAX)) return static_cast<int64_t>(u);
      if (neg && u <= static_cast<unsigned long long>(INT64_MAX) + 1ULL)
        return u == static_cast<unsigned long long>(INT64_MAX) + 1ULL ? INT64_MIN
                                                                      : -static_cast<int64_t>(u);
      if (!neg) return static_cast<uint64_t>(u);
    }
    if (base == 10) return std::strtod(s.c_str(), nullptr);
    return s;
  }
  if (is_float_syntax(v)) return std::strtod(s.c_str(), nullptr);
  static const std::set<std::string> kInf = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"};
  static const std::set<std::string> kNegInf = {"-.inf", "-.Inf", "-.INF"};
  static const std::set<std::string> kNan = {".nan", ".NaN", ".NAN"};
  if (kInf.count(s)) return HUGE_VAL;
  if (kNegInf.count(s)) return -HUGE_VAL;
  if (kNan.count(s)) return std::nan("");
  return s;
}

// Thrown inside the event handler, caught at the decode boundary.
struct decode_failure {
  YAML::Mark mark;
  std::string msg;
};

[[noreturn]] void fail(const YAML::Mark& m, std::string msg) {
  throw decode_failure{m, std::move(msg)};
}

json resolve_scalar(const YAML::Mark& m, const std::string& tag, const std::string& v) {
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(v);
  json r = resolve_plain(v);
  if (tag == "?" || tag.empty()) return r;
  if (tag == "tag:yaml.org,2002:int" && !r.is_number_integer())
    fail(m, "cannot decode !!str `" + v + "` as a !!int");
  if (tag == "tag:yaml.org,2002:float" && !r.is_number())
    fail(m, "cannot decode !!str `" + v + "` as a !!float");
  if (tag == "tag:yaml.org,2002:bool" && !r.is_boolean())
    fail(m, "cannot decode !!str `" + v + "` as a !!bool");
  if (tag == "tag:yaml.org,2002:float" && r.is_number_integer())
    return json(static_cast<double>(r.get<int64_t>()));
  return r;
}

// Builds json straight from parser events (no YAML::Node graph). Bounds depth, total nodes
// (aliases count their full size) and the number of events (yaml-cpp 0.7 can loop forever on
// some malformed input, e.g. a stray ',' in block context, emitting events without progress).
class json_builder : public YAML::EventHandler {
 public:
  explicit json_builder(size_t max_events) : max_events_(max_events) {}
  std::vector<json> docs;

  void OnDocumentStart(const YAML::Mark&) override {
    stack_.clear();
    root_ = nullptr;
  }
  void OnDocumentEnd() override {
    if (!root_.is_null()) docs.push_back(std::move(root_));
    root_ = nullptr;
  }
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override {
    tick(m);
    leaf(m, json(nullptr), a, "null");
  }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t a) override {
    tick(m);
    auto it = anchors_.find(a);
    if (it == anchors_.end()) fail(m, "unknown anchor (recursive alias?)");
    count(m, it->second.weight);
    const json& v = it->second.value;
    bool scalar = !v.is_object() && !v.is_array();
    attach(m, json(v), it->second.weight, scalar, v.is_string() ? v.get<std::string>() : v.dump());
  }
  void OnScalar(const YAML::Mark& m, const std::string& tag, YAML::anchor_t a,
                const std::string& value) override {
    tick(m);
    leaf(m, resolve_scalar(m, tag, value), a, value);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                       YAML::EmitterStyle::value) override {
    push(m, json::array(), a);
  }
  void OnSequenceEnd() override { pop(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                  YAML::EmitterStyle::value) override {
    push(m, json::object(), a);
  }
  void OnMapEnd() override { pop(); }

 private:
  struct frame {
    json value;
    YAML::anchor_t anchor;
    size_t weight;
    YAML::Mark mark;
    bool have_key = false;
    std::string key;
  };
  struct anchored {
    json value;
    size_t weight;
  };

  void tick(const YAML::Mark& m) {
    if (++events_ > max_events_) fail(m, "YAML parser made no progress (malformed document)");
  }
  void count(const YAML::Mark& m, size_t n) {
    nodes_ += n;
    if (nodes_ > kMaxNodes)
      fail(m, "document too large: more than " + std::to_string(kMaxNodes) +
                  " nodes (alias expansion?)");
  }
  void leaf(const YAML::Mark& m, json v, YAML::anchor_t a, const std::string& raw) {
    count(m, 1);
    if (a) anchors_[a] = {v, 1};
    attach(m, std::move(v), 1, true, raw);
  }
  void push(const YAML::Mark& m, json container, YAML::anchor_t a) {
    tick(m);
    count(m, 1);
    if (stack_.size() >= static_cast<size_t>(kMaxDepth))
      fail(m, "exceeded max depth of " + std::to_string(kMaxDepth));
    stack_.push_back(frame{std::move(container), a, 1, m});
  }
  void pop() {
    if (stack_.empty()) return;
    frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.have_key) fail(f.mark, "mapping key \"" + f.key + "\" has no value");
    if (f.anchor) anchors_[f.anchor] = {f.value, f.weight};
    attach(f.mark, std::move(f.value), f.weight, false, "");
  }
  void attach(const YAML::Mark& m, json v, size_t weight, bool scalar, const std::string& raw) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return;
    }
    frame& top = stack_.back();
    top.weight += weight;
    if (top.value.is_array()) {
      top.value.push_back(std::move(v));
      return;
    }
    if (!top.have_key) {
      if (!scalar) fail(m, "mapping keys must be scalars");
      if (top.value.contains(raw)) fail(m, "mapping key \"" + raw + "\" already defined");
      top.key = raw;
      top.have_key = true;
      return;
    }
    top.value[top.key] = std::move(v);
    top.have_key = false;
  }

  size_t max_events_;
  size_t events_ = 0;
  size_t nodes_ = 0;
  std::vector<frame> stack_;
  json root_;
  std::map<YAML::anchor_t, anchored> anchors_;
};

}  // namespace

result<std::vector<json>> decode_yaml_documents(std::string_view text) {
  json_builder b(64 + 16 * text.size());
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(b)) {
    }
  } catch (const decode_failure& f) {
    return error_at(f.mark, f.msg);
  } catch (const YAML::Exception& e) {
    return error_at(e.mark, e.msg);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("yaml: ") + e.what());
  }
  return std::move(b.docs);
}

result<json> decode_yaml(std::string_view text) {
  KAITO_ASSIGN_OR_RETURN(auto docs, decode_yaml_documents(text));
  if (docs.empty()) return invalid_argument("no YAML document found");
  if (docs.size() > 1)
    return invalid_argument("expected one YAML document, found " + std::to_string(docs.size()));
  return std::move(docs[0]);
}

namespace {
// 1-based line and column of byte offset `pos` (0-based).
std::string line_col(std::string_view text, size_t pos) {
  if (pos > text.size()) pos = text.size();
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}
}  // namespace

result<json> decode_json(std::string_view text) {
  // Depth pre-scan (outside strings) so deeply nested input never reaches recursive code.
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"')
      in_str = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth)
        return invalid_argument("exceeded max depth of " + std::to_string(kMaxDepth),
                                line_col(text, i));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    size_t at = what.find("column ");
    size_t colon = at == std::string::npos ? std::string::npos : what.find(": ", at);
    std::string msg = colon == std::string::npos ? what : what.substr(colon + 2);
    size_t pos = e.byte == 0 ? 0 : e.byte - 1;
    return invalid_argument(msg, line_col(text, pos));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("json: ") + e.what());
  }
}

result<std::vector<json>> decode_documents(std::string_view text) {
  size_t i = 0;
  while (i < text.size() &&
         (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
    ++i;
  if (i < text.size() && (text[i] == '{' || text[i] == '[')) {
    KAITO_ASSIGN_OR_RETURN(json j, decode_json(text));
    return std::vector<json>{std::move(j)};
  }
  return decode_yaml_documents(text);
}

}  // namespace kaito::api
