// jinja_interpreter: renders a parsed template (jinja_ast) against variables with jinja2's
// semantics under transformers' settings: undefined values print as nothing and fail on
// attribute access or arithmetic; missing keys, attributes and out-of-range indexes yield
// undefined; `set` inside a for loop does not leak out of it; namespace() attributes do.
//
// Limits keep hostile templates bounded: output size, value size, evaluation steps and macro
// recursion; exceeding one is a resource_exhausted status.
//
// Thread-safety: one interpreter per render call; the tree may be shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "engine/jinja_ast.h"
#include "engine/jinja_value.h"

namespace kaito::engine {

struct jinja_limits {
  size_t max_output_bytes = 16u << 20;
  size_t max_value_size = 4u << 20;  // bytes of a string, elements of a nested list/dict
  uint32_t max_value_depth = 200;    // nesting of lists/dicts
  size_t max_steps = 20'000'000;     // statements + expressions evaluated
  int max_call_depth = 32;           // nested macro calls
};

// Renders `ast` with `vars` (on top of jinja_globals()). Errors: invalid_argument (undefined
// access, type errors, unknown filters; `where` is the template line:column),
// failed_precondition (raise_exception, with its message), resource_exhausted (limits).
result<std::string> jinja_render(const jinja_template_ast& ast, const jinja_dict& vars,
                                 const jinja_limits& limits = {});

}  // namespace kaito::engine
