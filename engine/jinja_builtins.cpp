// Filters, tests and globals of the Jinja interpreter (see jinja_builtins.h).
#include "engine/jinja_builtins.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>

#include "engine/jinja_python.h"
#include "engine/unicode.h"

namespace kaito::engine {
namespace {

using jv = jinja_value;

status bad(const std::string& what) {
  return invalid_argument(what);
}
constexpr size_t max_range = 100'000;  // jinja2's sandbox MAX_RANGE

// jinja2 environment.getattr for filter attribute arguments ("a.b" dotted, integers index).
jinja_value get_attribute(const jinja_value& v, const std::string& path) {
  jinja_value cur = v;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t dot = path.find('.', pos);
    const std::string part =
        path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_dict() || cur.is_ns()) {
      const jinja_value* f = cur.as_dict().find(part);
      cur = f ? *f : jinja_value();
    } else if (cur.is_list() && !part.empty() &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      const size_t i = static_cast<size_t>(std::stoull(part));
      cur = i < cur.as_list().size() ? cur.as_list()[i] : jinja_value();
    } else {
      return jinja_value();
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

result<jinja_value> select_like(const jinja_value& value, const jinja_list& args, bool by_attr,
                                bool keep) {
  KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(value));
  size_t i = 0;
  std::string attr;
  if (by_attr) {
    if (args.empty() || !args[0].is_string()) return bad("selectattr: expected an attribute name");
    attr = args[0].as_string();
    i = 1;
  }
  std::string test_name;
  jinja_list test_args;
  if (i < args.size()) {
    if (!args[i].is_string()) return bad("select: expected a test name");
    test_name = args[i].as_string();
    test_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  }
  jinja_list out;
  for (const auto& item : items) {
    const jinja_value subject = by_attr ? get_attribute(item, attr) : item;
    bool ok = false;
    if (test_name.empty()) {
      ok = subject.truthy();
    } else {
      KAITO_ASSIGN_OR_RETURN(ok, jinja_test(test_name, subject, test_args));
    }
    if (ok == keep) out.push_back(item);
  }
  return jv::list(std::move(out));
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

result<jinja_value> to_json(const jinja_value& v, const jinja_list& args, const jinja_kwargs& kw) {
  int indent = -1;
  if (const jinja_value* i = jinja_arg(args, kw, 0, "indent")) {
    if (i->type() == jv::kind::integer) {
      if (i->as_int() < 0 || i->as_int() > 64) return bad("tojson: indent out of range");
      indent = static_cast<int>(i->as_int());
    } else if (!i->is_none()) {
      return bad("tojson: indent must be an integer");
    }
  }
  bool ensure_ascii = false;
  if (const jinja_value* e = jinja_kwarg(kw, "ensure_ascii")) ensure_ascii = e->truthy();
  bool sort_keys = false;
  if (const jinja_value* s = jinja_kwarg(kw, "sort_keys")) sort_keys = s->truthy();
  std::string item_sep, key_sep;
  bool seps = false;
  if (const jinja_value* s = jinja_kwarg(kw, "separators"); s && !s->is_none()) {
    if (!s->is_list() || s->as_list().size() != 2 || !s->as_list()[0].is_string() ||
        !s->as_list()[1].is_string())
      return bad("tojson: separators must be a pair of strings");
    item_sep = s->as_list()[0].as_string();
    key_sep = s->as_list()[1].as_string();
    seps = true;
  }
  KAITO_ASSIGN_OR_RETURN(std::string out,
                         v.to_json(ensure_ascii, indent, seps ? &item_sep : nullptr,
                                   seps ? &key_sep : nullptr, sort_keys));
  return jv::string(std::move(out));
}

}  // namespace

result<bool> jinja_contains(const jinja_value& c, const jinja_value& item) {
  switch (c.type()) {
    case jv::kind::string:
      if (!item.is_string()) return bad("'in <string>' requires string as left operand");
      return c.as_string().find(item.as_string()) != std::string::npos;
    case jv::kind::list:
      for (const auto& x : c.as_list())
        if (x.equals(item)) return true;
      return false;
    case jv::kind::dict:
    case jv::kind::ns:
      return item.is_string() && c.as_dict().find(item.as_string()) != nullptr;
    case jv::kind::undefined:
      return false;
    default:
      return bad("argument of type is not iterable");
  }
}

result<bool> jinja_test(const std::string& name, const jinja_value& v, const jinja_list& args) {
  using k = jv::kind;
  const auto need = [&](size_t n) -> status {
    if (args.size() < n) return bad("test '" + name + "' needs an argument");
    return {};
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.type() == k::integer || v.type() == k::floating;
  if (name == "integer") return v.type() == k::integer;
  if (name == "float") return v.type() == k::floating;
  if (name == "boolean") return v.type() == k::boolean;
  if (name == "true") return v.type() == k::boolean && v.as_bool();
  if (name == "false") return v.type() == k::boolean && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "callable") return v.is_function();
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    KAITO_ASSIGN_OR_RETURN(std::string c, py_case(v.as_string(), name == "upper"));
    return c == v.as_string();
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.type() != k::integer && v.type() != k::boolean)
      return bad("test '" + name + "' needs an integer");
    if (name == "divisibleby") {
      KAITO_TRY(need(1));
      if (args[0].type() != k::integer || args[0].as_int() == 0)
        return bad("divisibleby: bad divisor");
      return v.as_int() % args[0].as_int() == 0;
    }
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
    KAITO_TRY(need(1));
    return v.equals(args[0]);
  }
  if (name == "ne" || name == "!=") {
    KAITO_TRY(need(1));
    return !v.equals(args[0]);
  }
  if (name == "lt" || name == "<" || name == "lessthan") {
    KAITO_TRY(need(1));
    return jinja_value::less(v, args[0]);
  }
  if (name == "gt" || name == ">" || name == "greaterthan") {
    KAITO_TRY(need(1));
    return jinja_value::less(args[0], v);
  }
  if (name == "le" || name == "<=") {
    KAITO_TRY(need(1));
    KAITO_ASSIGN_OR_RETURN(bool gt, jinja_value::less(args[0], v));
    return !gt;
  }
  if (name == "ge" || name == ">=") {
    KAITO_TRY(need(1));
    KAITO_ASSIGN_OR_RETURN(bool lt, jinja_value::less(v, args[0]));
    return !lt;
  }
  if (name == "in") {
    KAITO_TRY(need(1));
    return jinja_contains(args[0], v);
  }
  return bad("no test named '" + name + "'");
}

result<jinja_value> jinja_filter(const std::string& name, const jinja_value& v,
                                 const jinja_list& args, const jinja_kwargs& kw) {
  using k = jv::kind;
  if (name == "tojson") return to_json(v, args, kw);
  if (name == "trim")
    return jv::string(py_strip(v.str(), jinja_arg(args, kw, 0, "chars"), true, true));
  if (name == "length" || name == "count") {
    const int64_t n = v.length();
    if (n < 0) return bad("object has no len()");
    return jv::integer(n);
  }
  if (name == "string") return jv::string(v.str());
  if (name == "safe") return v;
  if (name == "e" || name == "escape") return jv::string(html_escape(v.str()));
  if (name == "upper" || name == "lower") {
    KAITO_ASSIGN_OR_RETURN(std::string s, py_case(v.str(), name == "upper"));
    return jv::string(std::move(s));
  }
  if (name == "capitalize") {
    KAITO_ASSIGN_OR_RETURN(std::string s, py_capitalize(v.str()));
    return jv::string(std::move(s));
  }
  if (name == "title") {
    KAITO_ASSIGN_OR_RETURN(std::string s, py_title(v.str()));
    return jv::string(std::move(s));
  }
  if (name == "default" || name == "d") {
    const jinja_value* dflt = jinja_arg(args, kw, 0, "default_value");
    const jinja_value* boolean = jinja_arg(args, kw, 1, "boolean");
    const bool use = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
    return use ? (dflt ? *dflt : jv::string("")) : v;
  }
  if (name == "join") {
    const jinja_value* sep = jinja_arg(args, kw, 0, "d");
    const jinja_value* attr = jinja_arg(args, kw, 1, "attribute");
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i && sep) out += sep->str();
      out += (attr ? get_attribute(items[i], attr->str()) : items[i]).str();
    }
    return jv::string(std::move(out));
  }
  if (name == "items") {
    if (v.is_undefined()) return jv::list({});
    if (!v.is_dict()) return bad("items: expected a mapping");
    jinja_list out;
    for (const auto& [key, val] : v.as_dict().items)
      out.push_back(jv::list({jv::string(key), val}, true));
    return jv::list(std::move(out));
  }
  if (name == "list") {
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    return jv::list(std::move(items));
  }
  if (name == "first" || name == "last") {
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    if (items.empty()) return jinja_value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = utf8_code_points(v.as_string());
      std::reverse(cps.begin(), cps.end());
      return jv::string(utf8_from_code_points(cps, 0, cps.size()));
    }
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    std::reverse(items.begin(), items.end());
    return jv::list(std::move(items));
  }
  if (name == "selectattr" || name == "rejectattr")
    return select_like(v, args, true, name == "selectattr");
  if (name == "select" || name == "reject") return select_like(v, args, false, name == "select");
  if (name == "map") {
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    jinja_list out;
    if (const jinja_value* attr = jinja_kwarg(kw, "attribute")) {
      const jinja_value* dflt = jinja_kwarg(kw, "default");
      for (const auto& it : items) {
        jinja_value x = get_attribute(it, attr->str());
        out.push_back(x.is_undefined() && dflt ? *dflt : x);
      }
      return jv::list(std::move(out));
    }
    if (args.empty() || !args[0].is_string()) return bad("map: expected a filter name");
    const jinja_list rest(args.begin() + 1, args.end());
    for (const auto& it : items) {
      KAITO_ASSIGN_OR_RETURN(jinja_value x, jinja_filter(args[0].as_string(), it, rest, kw));
      out.push_back(std::move(x));
    }
    return jv::list(std::move(out));
  }
  if (name == "replace") {
    if (args.size() < 2) return bad("replace: needs old and new");
    const int64_t count = args.size() > 2 && args[2].type() == k::integer ? args[2].as_int() : -1;
    return jv::string(py_replace(v.str(), args[0].str(), args[1].str(), count));
  }
  if (name == "int") {
    if (v.type() == k::integer || v.type() == k::boolean) return jv::integer(v.as_int());
    if (v.type() == k::floating && std::isfinite(v.as_double()) && std::fabs(v.as_double()) < 9e18)
      return jv::integer(static_cast<int64_t>(v.as_double()));
    if (v.is_string()) {
      const std::string s = py_strip(v.as_string(), nullptr, true, true);
      char* end = nullptr;
      errno = 0;
      const long long x = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end && *end == '\0' && errno == 0) return jv::integer(x);
    }
    const jinja_value* d = jinja_arg(args, kw, 0, "default");
    return d ? *d : jv::integer(0);
  }
  if (name == "float") {
    if (v.is_number() || v.type() == k::boolean) return jv::floating(v.as_double());
    if (v.is_string()) {
      const std::string s = py_strip(v.as_string(), nullptr, true, true);
      char* end = nullptr;
      const double x = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == '\0') return jv::floating(x);
    }
    const jinja_value* d = jinja_arg(args, kw, 0, "default");
    return d ? *d : jv::floating(0.0);
  }
  if (name == "abs") {
    if (v.type() == k::integer || v.type() == k::boolean) {
      if (v.as_int() == INT64_MIN) return bad("integer overflow");
      return jv::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    if (v.type() == k::floating) return jv::floating(std::fabs(v.as_double()));
    return bad("abs: expected a number");
  }
  if (name == "indent") {
    int64_t width = 4;
    if (const jinja_value* w = jinja_arg(args, kw, 0, "width"); w && w->type() == k::integer)
      width = std::clamp<int64_t>(w->as_int(), 0, 256);
    const jinja_value* first = jinja_arg(args, kw, 1, "first");
    const jinja_value* blank = jinja_arg(args, kw, 2, "blank");
    const std::string pad(static_cast<size_t>(width), ' ');
    const std::string s = v.str();
    std::string out;
    size_t pos = 0;
    bool first_line = true;
    while (true) {
      const size_t nl = s.find('\n', pos);
      const std::string line =
          s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      const bool pad_it =
          first_line ? (first && first->truthy()) : (!line.empty() || (blank && blank->truthy()));
      if (pad_it) out += pad;
      out += line;
      if (nl == std::string::npos) break;
      out += '\n';
      pos = nl + 1;
      first_line = false;
    }
    return jv::string(std::move(out));
  }
  if (name == "sum") {
    KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(v));
    bool is_float = false;
    int64_t si = 0;
    double sf = 0;
    for (const auto& it : items) {
      if (it.type() == k::floating)
        is_float = true;
      else if (it.type() != k::integer && it.type() != k::boolean)
        return bad("sum: expected numbers");
      si += it.type() == k::floating ? 0 : it.as_int();
      sf += it.as_double();
    }
    return is_float ? jv::floating(sf) : jv::integer(si);
  }
  return bad("no filter named '" + name + "'");
}

jinja_dict jinja_globals() {
  jinja_dict g;
  g.set(
      "range",
      jv::function("range", [](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty() || a.size() > 3) return bad("range expected 1 to 3 arguments");
        for (const auto& x : a)
          if (x.type() != jv::kind::integer && x.type() != jv::kind::boolean)
            return bad("range: expected integers");
        int64_t start = 0, stop = 0, step = 1;
        if (a.size() == 1) {
          stop = a[0].as_int();
        } else {
          start = a[0].as_int();
          stop = a[1].as_int();
          if (a.size() == 3) step = a[2].as_int();
        }
        if (step == 0) return bad("range() arg 3 must not be zero");
        jinja_list out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          if (out.size() >= max_range)
            return bad("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
          out.push_back(jv::integer(i));
        }
        return jv::list(std::move(out));
      }));
  g.set("namespace",
        jv::function("namespace",
                     [](const jinja_list& a, const jinja_kwargs& kw) -> result<jinja_value> {
                       jinja_dict d;
                       for (const auto& x : a) {
                         if (!x.is_dict())
                           return bad("namespace: positional arguments must be mappings");
                         for (const auto& [key, val] : x.as_dict().items) d.set(key, val);
                       }
                       for (const auto& [key, val] : kw) d.set(key, val);
                       return jv::ns(std::move(d));
                     }));
  g.set("dict", jv::function(
                    "dict", [](const jinja_list& a, const jinja_kwargs& kw) -> result<jinja_value> {
                      jinja_dict d;
                      for (const auto& x : a) {
                        if (!x.is_dict()) return bad("dict: positional arguments must be mappings");
                        for (const auto& [key, val] : x.as_dict().items) d.set(key, val);
                      }
                      for (const auto& [key, val] : kw) d.set(key, val);
                      return jv::dict(std::move(d));
                    }));
  g.set("raise_exception",
        jv::function("raise_exception",
                     [](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
                       return status(status_code::failed_precondition, a.empty() ? "" : a[0].str(),
                                     "raise_exception");
                     }));
  g.set("strftime_now",
        jv::function(
            "strftime_now", [](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
              if (a.empty() || !a[0].is_string()) return bad("strftime_now: expected a format");
              const std::time_t now = std::time(nullptr);
              std::tm tm{};
              localtime_r(&now, &tm);
              char buf[256];
              const size_t n = std::strftime(buf, sizeof buf, a[0].as_string().c_str(), &tm);
              return jv::string(std::string(buf, n));
            }));
  return g;
}

}  // namespace kaito::engine
