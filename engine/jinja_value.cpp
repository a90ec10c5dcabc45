// Python-semantics values for the Jinja interpreter (see jinja_value.h).
#include "engine/jinja_value.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/unicode.h"

namespace kaito::engine {

const jinja_value* jinja_dict::find(const std::string& key) const {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &items[it->second].second;
}

void jinja_dict::set(const std::string& key, jinja_value v) {
  auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, items.size());
  items.emplace_back(key, std::move(v));
}

jinja_value jinja_value::none() {
  jinja_value v;
  v.kind_ = kind::none;
  return v;
}
jinja_value jinja_value::boolean(bool b) {
  jinja_value v;
  v.kind_ = kind::boolean;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  return v;
}
jinja_value jinja_value::integer(int64_t i) {
  jinja_value v;
  v.kind_ = kind::integer;
  v.i_ = i;
  return v;
}
jinja_value jinja_value::floating(double f) {
  jinja_value v;
  v.kind_ = kind::floating;
  v.f_ = f;
  return v;
}
jinja_value jinja_value::string(std::string s) {
  jinja_value v;
  v.kind_ = kind::string;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
jinja_value jinja_value::list(jinja_list items, bool tuple) {
  jinja_value v;
  v.kind_ = kind::list;
  v.tuple_ = tuple;
  uint64_t w = 1;
  uint32_t depth = 0;
  for (const auto& x : items) {
    w = std::min<uint64_t>(w + x.weight_, uint64_t(1) << 40);
    depth = std::max(depth, x.depth_);
  }
  v.weight_ = w;
  v.depth_ = std::min<uint32_t>(depth, 1u << 30) + 1;
  v.list_ = std::make_shared<const jinja_list>(std::move(items));
  return v;
}
jinja_value jinja_value::dict(jinja_dict d) {
  jinja_value v;
  v.kind_ = kind::dict;
  uint64_t w = 1;
  uint32_t depth = 0;
  for (const auto& kv : d.items) {
    w = std::min<uint64_t>(w + kv.second.weight_, uint64_t(1) << 40);
    depth = std::max(depth, kv.second.depth_);
  }
  v.weight_ = w;
  v.depth_ = std::min<uint32_t>(depth, 1u << 30) + 1;
  v.dict_ = std::make_shared<jinja_dict>(std::move(d));
  return v;
}
jinja_value jinja_value::ns(jinja_dict d) {
  jinja_value v = dict(std::move(d));
  v.kind_ = kind::ns;
  return v;
}
jinja_value jinja_value::function(std::string name, jinja_function fn) {
  jinja_value v;
  v.kind_ = kind::function;
  v.s_ = std::make_shared<const std::string>(std::move(name));
  v.fn_ = std::make_shared<const jinja_function>(std::move(fn));
  return v;
}

jinja_value jinja_value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u > uint64_t(INT64_MAX) ? floating(double(u)) : integer(int64_t(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return floating(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      jinja_list items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      jinja_dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.set(it.key(), from_json(it.value()));
      return dict(std::move(d));
    }
    default:
      return none();
  }
}

bool jinja_value::truthy() const {
  switch (kind_) {
    case kind::undefined:
    case kind::none:
      return false;
    case kind::boolean:
      return b_;
    case kind::integer:
      return i_ != 0;
    case kind::floating:
      return f_ != 0.0;
    case kind::string:
      return !s_->empty();
    case kind::list:
      return !list_->empty();
    case kind::dict:
      return !dict_->items.empty();
    default:
      return true;
  }
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf = [-]D[.DDD]e[+-]XX
  std::string s(buf);
  const bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  const size_t epos = s.find('e');
  const int exp = std::atoi(s.c_str() + epos + 1);
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (s[i] != '.') digits.push_back(s[i]);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." +
            digits.substr(static_cast<size_t>(exp) + 1);
    }
  }
  if (out.empty()) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += e;
  }
  return neg ? "-" + out : out;
}

namespace {

bool python_printable(uint32_t cp) {
  if (cp == ' ') return true;
  const int32_t mask = U_GET_GC_MASK(static_cast<UChar32>(cp));
  return (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CS_MASK | U_GC_CO_MASK | U_GC_CN_MASK |
                  U_GC_ZL_MASK | U_GC_ZP_MASK | U_GC_ZS_MASK)) == 0;
}

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t p = 0; p < s.size();) {
    const size_t b = p;
    const uint32_t cp = utf8_next(s, p);
    char buf[16];
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == static_cast<uint32_t>(quote)) {
      out += '\\';
      out += quote;
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if (cp < 0x80 || python_printable(cp)) {
      out.append(s, b, p - b);
    } else if (cp < 0x100) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string jinja_value::repr() const {
  std::string out;
  append_str(out, true, 0);
  return out;
}

std::string jinja_value::str() const {
  std::string out;
  append_str(out, false, 0);
  return out;
}

void jinja_value::append_str(std::string& out, bool quoted, int depth) const {
  constexpr size_t budget = 64u << 20;  // containers are also bounded by weight
  if (out.size() > budget) return;
  switch (kind_) {
    case kind::undefined:
      return;
    case kind::none:
      out += "None";
      return;
    case kind::boolean:
      out += b_ ? "True" : "False";
      return;
    case kind::integer:
      out += std::to_string(i_);
      return;
    case kind::floating:
      out += python_float_repr(f_);
      return;
    case kind::string:
      out += quoted ? string_repr(*s_) : *s_;
      return;
    case kind::list: {
      if (depth > 100) {
        out += "[...]";
        return;
      }
      out += tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size() && out.size() <= budget; ++i) {
        if (i) out += ", ";
        (*list_)[i].append_str(out, true, depth + 1);
      }
      if (tuple_ && list_->size() == 1) out += ",";
      out += tuple_ ? ")" : "]";
      return;
    }
    case kind::dict:
    case kind::ns: {
      if (depth > 100) {
        out += "{...}";
        return;
      }
      out += kind_ == kind::ns ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict_->items.size() && out.size() <= budget; ++i) {
        if (i) out += ", ";
        out += string_repr(dict_->items[i].first) + ": ";
        dict_->items[i].second.append_str(out, true, depth + 1);
      }
      out += kind_ == kind::ns ? "}>" : "}";
      return;
    }
    case kind::function:
      out += "<function " + *s_ + ">";
      return;
  }
}

bool jinja_value::equals(const jinja_value& o) const {
  const auto numeric = [](kind k) {
    return k == kind::boolean || k == kind::integer || k == kind::floating;
  };
  if (numeric(kind_) && numeric(o.kind_)) {
    if (kind_ != kind::floating && o.kind_ != kind::floating) return i_ == o.i_;
    return as_double() == o.as_double();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case kind::undefined:
    case kind::none:
      return true;
    case kind::string:
      return *s_ == *o.s_;
    case kind::list: {
      if (tuple_ != o.tuple_ || list_->size() != o.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i)
        if (!(*list_)[i].equals((*o.list_)[i])) return false;
      return true;
    }
    case kind::dict: {
      if (dict_->items.size() != o.dict_->items.size()) return false;
      for (const auto& [k, v] : dict_->items) {
        const jinja_value* w = o.dict_->find(k);
        if (!w || !v.equals(*w)) return false;
      }
      return true;
    }
    default:
      return dict_ == o.dict_ && fn_ == o.fn_;
  }
}

result<bool> jinja_value::less(const jinja_value& a, const jinja_value& b) {
  const auto numeric = [](const jinja_value& v) {
    return v.kind_ == kind::boolean || v.kind_ == kind::integer || v.kind_ == kind::floating;
  };
  if (numeric(a) && numeric(b)) {
    if (a.kind_ != kind::floating && b.kind_ != kind::floating) return a.i_ < b.i_;
    return a.as_double() < b.as_double();
  }
  if (a.is_string() && b.is_string()) return utf8_code_points(*a.s_) < utf8_code_points(*b.s_);
  if (a.is_list() && b.is_list()) {
    const auto& x = *a.list_;
    const auto& y = *b.list_;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i].equals(y[i])) continue;
      return less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return invalid_argument("'<' not supported between these types");
}

int64_t jinja_value::length() const {
  switch (kind_) {
    case kind::string:
      return static_cast<int64_t>(utf8_code_points(*s_).size());
    case kind::list:
      return static_cast<int64_t>(list_->size());
    case kind::dict:
    case kind::ns:
      return static_cast<int64_t>(dict_->items.size());
    case kind::undefined:
      return 0;
    default:
      return -1;
  }
}

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t p = 0; p < s.size();) {
    const size_t b = p;
    const uint32_t cp = utf8_next(s, p);
    char buf[16];
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
          if (cp >= 0x10000) {
            const uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                          0xDC00 + (v & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          out.append(s, b, p - b);
        }
    }
  }
  out += '"';
}

struct json_writer {
  bool ensure_ascii;
  int indent;
  std::string item_sep, key_sep;
  bool sort_keys;
  int depth_limit = 256;

  status write(std::string& out, const jinja_value& v, int level) const {
    if (level > depth_limit) return invalid_argument("tojson: value nested too deeply");
    using k = jinja_value::kind;
    const auto newline = [&](int lv) {
      if (indent < 0) return;
      out += '\n';
      out.append(static_cast<size_t>(indent) * static_cast<size_t>(lv), ' ');
    };
    switch (v.type()) {
      case k::none:
        out += "null";
        return {};
      case k::boolean:
        out += v.as_bool() ? "true" : "false";
        return {};
      case k::integer:
        out += std::to_string(v.as_int());
        return {};
      case k::floating: {
        const double d = v.as_double();
        out += std::isnan(d)   ? "NaN"
               : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                               : python_float_repr(d);
        return {};
      }
      case k::string:
        json_string(out, v.as_string(), ensure_ascii);
        return {};
      case k::list: {
        const auto& l = v.as_list();
        if (l.empty()) {
          out += "[]";
          return {};
        }
        out += '[';
        for (size_t i = 0; i < l.size(); ++i) {
          if (i) out += item_sep;
          newline(level + 1);
          KAITO_TRY(write(out, l[i], level + 1));
        }
        newline(level);
        out += ']';
        return {};
      }
      case k::dict: {
        std::vector<const std::pair<std::string, jinja_value>*> items;
        for (const auto& kv : v.as_dict().items) items.push_back(&kv);
        if (sort_keys) {
          std::stable_sort(items.begin(), items.end(),
                           [](auto* a, auto* b) { return a->first < b->first; });
        }
        if (items.empty()) {
          out += "{}";
          return {};
        }
        out += '{';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep;
          newline(level + 1);
          json_string(out, items[i]->first, ensure_ascii);
          out += key_sep;
          KAITO_TRY(write(out, items[i]->second, level + 1));
        }
        newline(level);
        out += '}';
        return {};
      }
      default:
        return invalid_argument("Object of this type is not JSON serializable");
    }
  }
};

}  // namespace

result<std::string> jinja_value::to_json(bool ensure_ascii, int indent, const std::string* item_sep,
                                         const std::string* key_sep, bool sort_keys) const {
  json_writer w{ensure_ascii, indent, item_sep ? *item_sep : (indent < 0 ? ", " : ","),
                key_sep ? *key_sep : ": ", sort_keys};
  std::string out;
  KAITO_TRY(w.write(out, *this, 0));
  return out;
}

std::vector<uint32_t> utf8_code_points(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t p = 0; p < s.size();) out.push_back(utf8_next(s, p));
  return out;
}

std::string utf8_from_code_points(const std::vector<uint32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) utf8_append(out, cps[i]);
  return out;
}

}  // namespace kaito::engine
