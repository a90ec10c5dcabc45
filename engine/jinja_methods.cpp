// Python methods of str, dict and list values (see jinja_builtins.h: jinja_method).
#include <algorithm>

#include "engine/jinja_builtins.h"
#include "engine/jinja_python.h"
#include "engine/unicode.h"

namespace kaito::engine {
namespace {

using jv = jinja_value;

status bad(const std::string& what) {
  return invalid_argument(what);
}

}  // namespace

jinja_value jinja_method(const jinja_value& obj, const std::string& name) {
  using k = jv::kind;
  const auto bind = [&](jinja_function fn) { return jv::function(name, std::move(fn)); };
  if (obj.is_string()) {
    const std::string s = obj.as_string();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const bool l = name != "rstrip", r = name != "lstrip";
      return bind([s, l, r](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        return jv::string(py_strip(s, a.empty() ? nullptr : &a[0], l, r));
      });
    }
    if (name == "startswith" || name == "endswith") {
      const bool start = name == "startswith";
      return bind([s, start](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty()) return bad("startswith/endswith: needs an argument");
        jinja_list cands = a[0].is_list() ? a[0].as_list() : jinja_list{a[0]};
        for (const auto& c : cands) {
          if (!c.is_string()) return bad("startswith/endswith: expected a string");
          const std::string& x = c.as_string();
          if (x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0
                                             : s.compare(s.size() - x.size(), x.size(), x) == 0))
            return jv::boolean(true);
        }
        return jv::boolean(false);
      });
    }
    if (name == "split") {
      return bind([s](const jinja_list& a, const jinja_kwargs& kw) -> result<jinja_value> {
        return py_split(s, jinja_arg(a, kw, 0, "sep"), jinja_arg(a, kw, 1, "maxsplit"));
      });
    }
    if (name == "upper" || name == "lower") {
      const bool up = name == "upper";
      return bind([s, up](const jinja_list&, const jinja_kwargs&) -> result<jinja_value> {
        KAITO_ASSIGN_OR_RETURN(std::string r, py_case(s, up));
        return jv::string(std::move(r));
      });
    }
    if (name == "title" || name == "capitalize") {
      const bool t = name == "title";
      return bind([s, t](const jinja_list&, const jinja_kwargs&) -> result<jinja_value> {
        KAITO_ASSIGN_OR_RETURN(std::string r, t ? py_title(s) : py_capitalize(s));
        return jv::string(std::move(r));
      });
    }
    if (name == "replace") {
      return bind([s](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.size() < 2 || !a[0].is_string() || !a[1].is_string())
          return bad("replace: needs two strings");
        const int64_t count = a.size() > 2 && a[2].type() == k::integer ? a[2].as_int() : -1;
        return jv::string(py_replace(s, a[0].as_string(), a[1].as_string(), count));
      });
    }
    if (name == "find" || name == "count") {
      const bool find = name == "find";
      return bind([s, find](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty() || !a[0].is_string()) return bad("find/count: needs a string");
        const std::string& x = a[0].as_string();
        if (find) {
          const size_t f = s.find(x);
          if (f == std::string::npos) return jv::integer(-1);
          return jv::integer(static_cast<int64_t>(utf8_code_points(s.substr(0, f)).size()));
        }
        if (x.empty()) return jv::integer(static_cast<int64_t>(utf8_code_points(s).size()) + 1);
        int64_t n = 0;
        for (size_t p = s.find(x); p != std::string::npos; p = s.find(x, p + x.size())) ++n;
        return jv::integer(n);
      });
    }
    if (name == "join") {
      return bind([s](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty()) return bad("join: needs an iterable");
        KAITO_ASSIGN_OR_RETURN(jinja_list items, jinja_iterate(a[0]));
        std::string out;
        for (size_t i = 0; i < items.size(); ++i) {
          if (!items[i].is_string()) return bad("join: sequence item is not a string");
          if (i) out += s;
          out += items[i].as_string();
        }
        return jv::string(std::move(out));
      });
    }
    return jinja_value();
  }
  if (obj.is_dict()) {
    const jinja_value d = obj;
    if (name == "items" || name == "keys" || name == "values") {
      const int which = name == "items" ? 0 : name == "keys" ? 1 : 2;
      return bind([d, which](const jinja_list&, const jinja_kwargs&) -> result<jinja_value> {
        jinja_list out;
        for (const auto& [key, val] : d.as_dict().items) {
          if (which == 0)
            out.push_back(jv::list({jv::string(key), val}, true));
          else if (which == 1)
            out.push_back(jv::string(key));
          else
            out.push_back(val);
        }
        return jv::list(std::move(out));
      });
    }
    if (name == "get") {
      return bind([d](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty()) return bad("get: needs a key");
        const jinja_value* f = a[0].is_string() ? d.as_dict().find(a[0].as_string()) : nullptr;
        if (f) return *f;
        return a.size() > 1 ? a[1] : jv::none();
      });
    }
    return jinja_value();
  }
  if (obj.is_list()) {
    static const char* mutators[] = {"append", "extend", "insert", "pop",
                                     "remove", "clear",  "sort",   "reverse"};
    for (const char* m : mutators) {
      if (name == m) {
        return bind([name](const jinja_list&, const jinja_kwargs&) -> result<jinja_value> {
          return bad("access to attribute '" + name + "' of 'list' object is unsafe");
        });
      }
    }
    const jinja_value l = obj;
    if (name == "index" || name == "count") {
      const bool index = name == "index";
      return bind([l, index](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
        if (a.empty()) return bad("index/count: needs a value");
        int64_t n = 0;
        for (size_t i = 0; i < l.as_list().size(); ++i) {
          if (!l.as_list()[i].equals(a[0])) continue;
          if (index) return jv::integer(static_cast<int64_t>(i));
          ++n;
        }
        if (index) return bad("value is not in list");
        return jv::integer(n);
      });
    }
  }
  return jinja_value();
}

}  // namespace kaito::engine
