// jinja_ast: the syntax tree of a parsed Jinja template: statements (text, output, if, for, set,
// macro, break/continue) and expressions. Built by jinja_parser, walked by jinja_interpreter.
//
// Thread-safety: immutable after parsing; a tree may be rendered by several threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/jinja_value.h"

namespace kaito::engine {

struct jinja_expr;
using jinja_expr_ptr = std::unique_ptr<jinja_expr>;

struct jinja_expr {
  enum class kind {
    literal,    // value
    name,       // name
    list,       // items (tuple when is_tuple)
    dict,       // keys[i]: items[2i], values: items[2i+1]
    attr,       // items[0].name
    subscript,  // items[0][items[1]]
    slice,      // items[0][a:b:c]; items[1..3] may be null
    call,       // items[0](items[1..], kwargs)
    filter,     // items[0] | name(items[1..], kwargs)
    test,       // items[0] is [not] name(items[1..])
    unary,      // op items[0]: "-", "+", "not"
    binary,     // items[0] op items[1]: + - * / // % ** ~ and or
    compare,    // items[0] ops[i] items[i+1]: == != < <= > >= in notin
    condexpr,   // items[1] if items[0] else items[2] (null when absent)
  };
  kind type = kind::literal;
  jinja_value value;
  std::string name;  // name, attr, filter, test, operator
  bool is_tuple = false;
  bool negated = false;
  std::vector<jinja_expr_ptr> items;
  std::vector<std::pair<std::string, jinja_expr_ptr>> kwargs;
  std::vector<std::string> ops;
  int line = 0, column = 0;
};

struct jinja_node;
using jinja_body = std::vector<std::unique_ptr<jinja_node>>;

struct jinja_node {
  enum class kind { text, output, if_, for_, set, set_block, macro, break_, continue_ };
  kind type = kind::text;
  std::string text;     // text
  jinja_expr_ptr expr;  // output / set value / for iterable
  // if: conditions[i] guards bodies[i]; else_body after them.
  std::vector<jinja_expr_ptr> conditions;
  std::vector<jinja_body> bodies;
  jinja_body else_body;
  // for: targets (one or an unpacked tuple), optional filter, body in bodies[0].
  // set: targets (names) or namespace attribute `target_attr` of targets[0].
  std::vector<std::string> targets;
  std::string target_attr;
  jinja_expr_ptr filter;
  // macro: name in text, parameter names in targets, defaults aligned at the end.
  std::vector<jinja_expr_ptr> defaults;
  int line = 0, column = 0;
};

struct jinja_template_ast {
  jinja_body body;
};

}  // namespace kaito::engine
