// jinja_parser: tokens (jinja_lexer) -> syntax tree (jinja_ast), following jinja2/parser.py's
// grammar and operator precedence. Supported statements: if/elif/else, for (tuple targets, inline
// `if` filter, else), set (names, tuples, namespace attributes, block form), macro, break,
// continue, generation (transformers' AssistantTracker tag, rendered as its body).
//
// Thread-safety: a pure function.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"
#include "engine/jinja_ast.h"

namespace kaito::engine {

// Parses a template. invalid_argument with "line:column" on a syntax error, an unknown tag or
// nesting deeper than 64 blocks / 128 expression levels.
result<std::shared_ptr<const jinja_template_ast>> jinja_parse(std::string_view source);

}  // namespace kaito::engine
