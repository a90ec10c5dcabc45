// jinja_python: Python str semantics the Jinja interpreter needs (jinja2 runs on Python
// strings): strip/split/replace with Python's whitespace and code-point rules, Unicode case
// mapping (ICU, root locale), title/capitalize, iteration over values, and argument helpers.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "engine/jinja_value.h"

namespace kaito::engine {

// Python str.isspace() for one code point.
bool python_isspace(uint32_t cp);
// str.upper() / str.lower().
result<std::string> py_case(const std::string& s, bool upper);
result<std::string> py_title(const std::string& s);
result<std::string> py_capitalize(const std::string& s);
// str.strip/lstrip/rstrip(chars); chars null or none strips whitespace.
std::string py_strip(const std::string& s, const jinja_value* chars, bool left, bool right);
// str.split(sep=None, maxsplit=-1).
result<jinja_value> py_split(const std::string& s, const jinja_value* sep, const jinja_value* maxv);
// str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(const std::string& s, const std::string& a, const std::string& b,
                       int64_t count);
// Elements of an iterable value (strings yield characters, dicts keys, undefined nothing);
// invalid_argument for scalars.
result<jinja_list> jinja_iterate(const jinja_value& v);
// Positional argument `i`, else keyword `name`, else nullptr.
const jinja_value* jinja_arg(const jinja_list& args, const jinja_kwargs& kw, size_t i,
                             const char* name);
const jinja_value* jinja_kwarg(const jinja_kwargs& kw, const char* name);

}  // namespace kaito::engine
