// jinja_builtins: jinja2's filters, tests, globals and the Python methods of str, dict and list
// that chat templates call, plus transformers' additions (tojson with ensure_ascii=False and
// indent/separators/sort_keys, raise_exception, strftime_now). List-mutating methods fail, as in
// jinja2's ImmutableSandboxedEnvironment.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "base/status.h"
#include "engine/jinja_value.h"

namespace kaito::engine {

// `value | name(args, kwargs)`. invalid_argument naming the filter for an unknown filter or bad
// arguments.
result<jinja_value> jinja_filter(const std::string& name, const jinja_value& value,
                                 const jinja_list& args, const jinja_kwargs& kwargs);
// `value is name(args)`.
result<bool> jinja_test(const std::string& name, const jinja_value& value, const jinja_list& args);
// `obj.name` when it names a method of obj's Python type: a function bound to obj; otherwise
// undefined.
jinja_value jinja_method(const jinja_value& obj, const std::string& name);
// range, namespace, dict, raise_exception, strftime_now.
jinja_dict jinja_globals();
// `a in b` with Python semantics.
result<bool> jinja_contains(const jinja_value& container, const jinja_value& item);

}  // namespace kaito::engine
