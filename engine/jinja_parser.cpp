// The Jinja parser (see jinja_parser.h); mirrors jinja2/parser.py.
#include "engine/jinja_parser.h"

#include <set>

#include "engine/jinja_lexer.h"

namespace kaito::engine {
namespace {

using tk = jinja_token::kind;
using ek = jinja_expr::kind;
using nk = jinja_node::kind;

constexpr int max_block_depth = 64;
constexpr int max_expr_depth = 128;

class parser {
 public:
  explicit parser(std::vector<jinja_token> toks) : t_(std::move(toks)) {}

  result<std::shared_ptr<const jinja_template_ast>> run() {
    auto ast = std::make_shared<jinja_template_ast>();
    std::string end;
    KAITO_TRY(parse_body(ast->body, {}, &end, 0));
    if (cur().type != tk::eof) return error("unexpected tag");
    return std::shared_ptr<const jinja_template_ast>(std::move(ast));
  }

 private:
  std::vector<jinja_token> t_;
  size_t p_ = 0;
  int expr_depth_ = 0;

  const jinja_token& cur() const { return t_[p_]; }
  const jinja_token& look(size_t k = 1) const {
    return t_[p_ + k < t_.size() ? p_ + k : t_.size() - 1];
  }
  void next() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  std::string where() const {
    return std::to_string(cur().line) + ":" + std::to_string(cur().column);
  }
  status error(const std::string& msg) const { return invalid_argument(msg, where()); }
  bool is_op(const char* op) const { return cur().type == tk::op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == tk::name && cur().text == n; }
  status expect_op(const char* op) {
    if (!is_op(op)) return error(std::string("expected '") + op + "'");
    next();
    return {};
  }
  status expect_block_end() {
    if (cur().type != tk::block_end) return error("expected end of statement block");
    next();
    return {};
  }
  template <class... A>
  jinja_expr_ptr make(ek k, A&&... items) {
    auto e = std::make_unique<jinja_expr>();
    e->type = k;
    e->line = cur().line;
    e->column = cur().column;
    (e->items.push_back(std::forward<A>(items)), ...);
    return e;
  }

  // ---- statements ---------------------------------------------------------------------------

  // Parses nodes until a block tag whose name is in `ends` (left unconsumed after `{%` and the
  // name, which is stored in *end) or eof (only allowed when `ends` is empty).
  status parse_body(jinja_body& body, const std::set<std::string>& ends, std::string* end,
                    int depth) {
    if (depth > max_block_depth) return error("blocks nested too deeply");
    while (true) {
      const jinja_token& t = cur();
      if (t.type == tk::eof) {
        if (!ends.empty()) return error("unexpected end of template, expected an end tag");
        return {};
      }
      if (t.type == tk::text) {
        auto n = std::make_unique<jinja_node>();
        n->type = nk::text;
        n->text = t.text;
        body.push_back(std::move(n));
        next();
        continue;
      }
      if (t.type == tk::var_begin) {
        auto n = std::make_unique<jinja_node>();
        n->type = nk::output;
        n->line = t.line;
        n->column = t.column;
        next();
        KAITO_ASSIGN_OR_RETURN(n->expr, parse_tuple(true));
        if (cur().type != tk::var_end) return error("expected '}}'");
        next();
        body.push_back(std::move(n));
        continue;
      }
      if (t.type != tk::block_begin) return error("unexpected token");
      next();
      if (cur().type != tk::name) return error("expected a statement name");
      const std::string name = cur().text;
      if (ends.count(name)) {
        *end = name;
        next();
        return {};
      }
      KAITO_TRY(parse_statement(body, name, depth));
    }
  }

  status parse_statement(jinja_body& body, const std::string& name, int depth) {
    auto n = std::make_unique<jinja_node>();
    n->line = cur().line;
    n->column = cur().column;
    next();
    if (name == "if") {
      n->type = nk::if_;
      while (true) {
        KAITO_ASSIGN_OR_RETURN(auto cond, parse_tuple(false));
        KAITO_TRY(expect_block_end());
        n->conditions.push_back(std::move(cond));
        n->bodies.emplace_back();
        std::string end;
        KAITO_TRY(parse_body(n->bodies.back(), {"elif", "else", "endif"}, &end, depth + 1));
        if (end == "elif") continue;
        if (end == "else") {
          KAITO_TRY(expect_block_end());
          KAITO_TRY(parse_body(n->else_body, {"endif"}, &end, depth + 1));
        }
        KAITO_TRY(expect_block_end());
        break;
      }
    } else if (name == "for") {
      n->type = nk::for_;
      KAITO_TRY(parse_targets(n->targets, false, nullptr));
      if (!is_name("in")) return error("expected 'in'");
      next();
      KAITO_ASSIGN_OR_RETURN(n->expr, parse_tuple(false, {"if", "recursive"}));
      if (is_name("if")) {
        next();
        KAITO_ASSIGN_OR_RETURN(n->filter, parse_expression(true));
      }
      if (is_name("recursive")) return error("recursive loops are not supported");
      KAITO_TRY(expect_block_end());
      n->bodies.emplace_back();
      std::string end;
      KAITO_TRY(parse_body(n->bodies.back(), {"else", "endfor"}, &end, depth + 1));
      if (end == "else") {
        KAITO_TRY(expect_block_end());
        KAITO_TRY(parse_body(n->else_body, {"endfor"}, &end, depth + 1));
      }
      KAITO_TRY(expect_block_end());
    } else if (name == "set") {
      KAITO_TRY(parse_targets(n->targets, true, &n->target_attr));
      if (is_op("=")) {
        next();
        n->type = nk::set;
        KAITO_ASSIGN_OR_RETURN(n->expr, parse_tuple(true));
        KAITO_TRY(expect_block_end());
      } else {
        if (n->targets.size() != 1 || !n->target_attr.empty())
          return error("a block set takes one name");
        n->type = nk::set_block;
        KAITO_TRY(expect_block_end());
        n->bodies.emplace_back();
        std::string end;
        KAITO_TRY(parse_body(n->bodies.back(), {"endset"}, &end, depth + 1));
        KAITO_TRY(expect_block_end());
      }
    } else if (name == "macro") {
      n->type = nk::macro;
      if (cur().type != tk::name) return error("expected a macro name");
      n->text = cur().text;
      next();
      KAITO_TRY(expect_op("("));
      while (!is_op(")")) {
        if (cur().type != tk::name) return error("expected a parameter name");
        n->targets.push_back(cur().text);
        next();
        if (is_op("=")) {
          next();
          KAITO_ASSIGN_OR_RETURN(auto d, parse_expression(true));
          n->defaults.push_back(std::move(d));
        } else if (!n->defaults.empty()) {
          return error("non-default parameter follows a default parameter");
        }
        if (!is_op(",")) break;
        next();
      }
      KAITO_TRY(expect_op(")"));
      KAITO_TRY(expect_block_end());
      n->bodies.emplace_back();
      std::string end;
      KAITO_TRY(parse_body(n->bodies.back(), {"endmacro"}, &end, depth + 1));
      KAITO_TRY(expect_block_end());
    } else if (name == "break" || name == "continue") {
      n->type = name == "break" ? nk::break_ : nk::continue_;
      KAITO_TRY(expect_block_end());
    } else if (name == "generation") {
      // transformers' AssistantTracker: renders its body unchanged.
      KAITO_TRY(expect_block_end());
      n->type = nk::if_;
      auto yes = make(ek::literal);
      yes->value = jinja_value::boolean(true);
      n->conditions.push_back(std::move(yes));
      n->bodies.emplace_back();
      std::string end;
      KAITO_TRY(parse_body(n->bodies.back(), {"endgeneration"}, &end, depth + 1));
      KAITO_TRY(expect_block_end());
    } else {
      --p_;
      return error("unknown tag '" + name + "'");
    }
    body.push_back(std::move(n));
    return {};
  }

  // name | name, name | (name, name) | ns.attr (when allowed)
  status parse_targets(std::vector<std::string>& out, bool allow_attr, std::string* attr) {
    const bool paren = is_op("(");
    if (paren) next();
    while (true) {
      if (cur().type != tk::name) return error("expected a name");
      out.push_back(cur().text);
      next();
      if (allow_attr && out.size() == 1 && is_op(".") && look().type == tk::name) {
        next();
        *attr = cur().text;
        next();
        return {};
      }
      if (!is_op(",")) break;
      next();
      if (!paren && (is_name("in") || is_op("="))) break;
    }
    if (paren) KAITO_TRY(expect_op(")"));
    return {};
  }

  // ---- expressions --------------------------------------------------------------------------

  struct depth_guard {
    int& d;
    explicit depth_guard(int& x) : d(x) { ++d; }
    ~depth_guard() { --d; }
  };

  // expr [, expr]* -> a tuple when a comma appears.
  result<jinja_expr_ptr> parse_tuple(bool with_condexpr, const std::set<std::string>& stop = {}) {
    KAITO_ASSIGN_OR_RETURN(auto first, parse_expression(with_condexpr));
    if (!is_op(",")) return first;
    auto tuple = make(ek::list, std::move(first));
    tuple->is_tuple = true;
    while (is_op(",")) {
      next();
      if (cur().type == tk::var_end || cur().type == tk::block_end || is_op(")") ||
          (cur().type == tk::name && stop.count(cur().text)))
        break;
      KAITO_ASSIGN_OR_RETURN(auto e, parse_expression(with_condexpr));
      tuple->items.push_back(std::move(e));
    }
    return tuple;
  }

  result<jinja_expr_ptr> parse_expression(bool with_condexpr) {
    depth_guard g(expr_depth_);
    if (expr_depth_ > max_expr_depth) return error("expression nested too deeply");
    if (!with_condexpr) return parse_or();
    KAITO_ASSIGN_OR_RETURN(auto expr, parse_or());
    while (is_name("if")) {
      next();
      KAITO_ASSIGN_OR_RETURN(auto cond, parse_or());
      jinja_expr_ptr otherwise;
      if (is_name("else")) {
        next();
        KAITO_ASSIGN_OR_RETURN(otherwise, parse_expression(true));
      }
      expr = make(ek::condexpr, std::move(cond), std::move(expr), std::move(otherwise));
    }
    return expr;
  }

  result<jinja_expr_ptr> parse_or() {
    KAITO_ASSIGN_OR_RETURN(auto left, parse_and());
    while (is_name("or")) {
      next();
      KAITO_ASSIGN_OR_RETURN(auto right, parse_and());
      left = make(ek::binary, std::move(left), std::move(right));
      left->name = "or";
    }
    return left;
  }

  result<jinja_expr_ptr> parse_and() {
    KAITO_ASSIGN_OR_RETURN(auto left, parse_not());
    while (is_name("and")) {
      next();
      KAITO_ASSIGN_OR_RETURN(auto right, parse_not());
      left = make(ek::binary, std::move(left), std::move(right));
      left->name = "and";
    }
    return left;
  }

  result<jinja_expr_ptr> parse_not() {
    depth_guard g(expr_depth_);
    if (expr_depth_ > max_expr_depth) return error("expression nested too deeply");
    if (is_name("not")) {
      next();
      KAITO_ASSIGN_OR_RETURN(auto inner, parse_not());
      auto e = make(ek::unary, std::move(inner));
      e->name = "not";
      return e;
    }
    return parse_compare();
  }

  result<jinja_expr_ptr> parse_compare() {
    KAITO_ASSIGN_OR_RETURN(auto first, parse_math1());
    jinja_expr_ptr cmp;
    while (true) {
      std::string op;
      if (cur().type == tk::op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && look().type == tk::name && look().text == "in") {
        op = "notin";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) cmp = make(ek::compare, std::move(first));
      KAITO_ASSIGN_OR_RETURN(auto rhs, parse_math1());
      cmp->ops.push_back(op);
      cmp->items.push_back(std::move(rhs));
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  result<jinja_expr_ptr> binary_chain(result<jinja_expr_ptr> (parser::*sub)(),
                                      std::initializer_list<const char*> ops) {
    KAITO_ASSIGN_OR_RETURN(auto left, (this->*sub)());
    while (true) {
      const char* hit = nullptr;
      for (const char* op : ops)
        if (is_op(op)) hit = op;
      if (!hit) break;
      next();
      KAITO_ASSIGN_OR_RETURN(auto right, (this->*sub)());
      left = make(ek::binary, std::move(left), std::move(right));
      left->name = hit;
    }
    return left;
  }
  result<jinja_expr_ptr> parse_math1() { return binary_chain(&parser::parse_concat, {"+", "-"}); }
  result<jinja_expr_ptr> parse_concat() { return binary_chain(&parser::parse_math2, {"~"}); }
  result<jinja_expr_ptr> parse_math2() {
    return binary_chain(&parser::parse_pow, {"*", "/", "//", "%"});
  }
  result<jinja_expr_ptr> parse_pow() { return binary_chain(&parser::parse_unary_f, {"**"}); }
  result<jinja_expr_ptr> parse_unary_f() { return parse_unary(true); }

  result<jinja_expr_ptr> parse_unary(bool with_filter) {
    depth_guard g(expr_depth_);
    if (expr_depth_ > max_expr_depth) return error("expression nested too deeply");
    jinja_expr_ptr node;
    if (is_op("-") || is_op("+")) {
      const std::string op = cur().text;
      next();
      KAITO_ASSIGN_OR_RETURN(auto inner, parse_unary(false));
      node = make(ek::unary, std::move(inner));
      node->name = op;
    } else {
      KAITO_ASSIGN_OR_RETURN(node, parse_primary());
    }
    KAITO_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
    if (with_filter) {
      KAITO_ASSIGN_OR_RETURN(node, parse_filter_expr(std::move(node)));
    }
    return node;
  }

  result<jinja_expr_ptr> parse_primary() {
    const jinja_token& t = cur();
    if (t.type == tk::name) {
      auto e = make(ek::literal);
      const std::string& n = t.text;
      if (n == "true" || n == "True") {
        e->value = jinja_value::boolean(true);
      } else if (n == "false" || n == "False") {
        e->value = jinja_value::boolean(false);
      } else if (n == "none" || n == "None") {
        e->value = jinja_value::none();
      } else {
        e->type = ek::name;
        e->name = n;
      }
      next();
      return e;
    }
    if (t.type == tk::string) {
      std::string s;
      while (cur().type == tk::string) {
        s += cur().text;
        next();
      }
      auto e = make(ek::literal);
      e->value = jinja_value::string(std::move(s));
      return e;
    }
    if (t.type == tk::integer || t.type == tk::floating) {
      auto e = make(ek::literal);
      e->value = t.type == tk::integer ? jinja_value::integer(t.int_value)
                                       : jinja_value::floating(t.float_value);
      next();
      return e;
    }
    if (is_op("(")) {
      next();
      if (is_op(")")) {
        next();
        auto e = make(ek::list);
        e->is_tuple = true;
        return e;
      }
      KAITO_ASSIGN_OR_RETURN(auto e, parse_tuple(true));
      KAITO_TRY(expect_op(")"));
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = make(ek::list);
      while (!is_op("]")) {
        KAITO_ASSIGN_OR_RETURN(auto item, parse_expression(true));
        e->items.push_back(std::move(item));
        if (!is_op(",")) break;
        next();
      }
      KAITO_TRY(expect_op("]"));
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(ek::dict);
      while (!is_op("}")) {
        KAITO_ASSIGN_OR_RETURN(auto key, parse_expression(true));
        KAITO_TRY(expect_op(":"));
        KAITO_ASSIGN_OR_RETURN(auto val, parse_expression(true));
        e->items.push_back(std::move(key));
        e->items.push_back(std::move(val));
        if (!is_op(",")) break;
        next();
      }
      KAITO_TRY(expect_op("}"));
      return e;
    }
    return error("unexpected '" + (t.text.empty() ? std::string("end of tag") : t.text) + "'");
  }

  result<jinja_expr_ptr> parse_postfix(jinja_expr_ptr node) {
    while (true) {
      if (is_op(".")) {
        next();
        if (cur().type == tk::name) {
          node = make(ek::attr, std::move(node));
          node->name = cur().text;
          next();
        } else if (cur().type == tk::integer) {
          auto idx = make(ek::literal);
          idx->value = jinja_value::integer(cur().int_value);
          next();
          node = make(ek::subscript, std::move(node), std::move(idx));
        } else {
          return error("expected an attribute name");
        }
      } else if (is_op("[")) {
        next();
        KAITO_ASSIGN_OR_RETURN(node, parse_subscript(std::move(node)));
      } else if (is_op("(")) {
        KAITO_ASSIGN_OR_RETURN(node, parse_call(std::move(node), ek::call, ""));
      } else {
        return node;
      }
    }
  }

  result<jinja_expr_ptr> parse_subscript(jinja_expr_ptr obj) {
    jinja_expr_ptr parts[3];
    int colons = 0;
    for (int i = 0; i < 3; ++i) {
      if (!is_op(":") && !is_op("]")) {
        KAITO_ASSIGN_OR_RETURN(parts[i], parse_expression(true));
      }
      if (is_op(":") && colons < 2) {
        ++colons;
        next();
        continue;
      }
      break;
    }
    KAITO_TRY(expect_op("]"));
    if (colons == 0) {
      if (!parts[0]) return error("expected a subscript");
      return make(ek::subscript, std::move(obj), std::move(parts[0]));
    }
    return make(ek::slice, std::move(obj), std::move(parts[0]), std::move(parts[1]),
                std::move(parts[2]));
  }

  // `(` args `)` after the callee/filter; items[0] is `callee`.
  result<jinja_expr_ptr> parse_call(jinja_expr_ptr callee, ek k, const std::string& name) {
    auto e = make(k, std::move(callee));
    e->name = name;
    KAITO_TRY(expect_op("("));
    while (!is_op(")")) {
      if (cur().type == tk::name && look().type == tk::op && look().text == "=") {
        std::string key = cur().text;
        next();
        next();
        KAITO_ASSIGN_OR_RETURN(auto v, parse_expression(true));
        e->kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!e->kwargs.empty()) return error("positional argument follows keyword argument");
        KAITO_ASSIGN_OR_RETURN(auto v, parse_expression(true));
        e->items.push_back(std::move(v));
      }
      if (!is_op(",")) break;
      next();
    }
    KAITO_TRY(expect_op(")"));
    return e;
  }

  result<jinja_expr_ptr> parse_filter_expr(jinja_expr_ptr node) {
    while (true) {
      if (is_op("|")) {
        next();
        if (cur().type != tk::name) return error("expected a filter name");
        std::string name = cur().text;
        next();
        while (is_op(".") && look().type == tk::name) {  // dotted filter names
          next();
          name += "." + cur().text;
          next();
        }
        if (is_op("(")) {
          KAITO_ASSIGN_OR_RETURN(node, parse_call(std::move(node), ek::filter, name));
        } else {
          node = make(ek::filter, std::move(node));
          node->name = name;
        }
      } else if (is_name("is")) {
        next();
        bool negated = false;
        if (is_name("not")) {
          negated = true;
          next();
        }
        if (cur().type != tk::name) return error("expected a test name");
        std::string name = cur().text;
        next();
        if (is_op("(")) {
          KAITO_ASSIGN_OR_RETURN(node, parse_call(std::move(node), ek::test, name));
        } else {
          node = make(ek::test, std::move(node));
          node->name = name;
          const jinja_token& c = cur();
          const bool arg_start =
              (c.type == tk::name || c.type == tk::string || c.type == tk::integer ||
               c.type == tk::floating || (c.type == tk::op && (c.text == "[" || c.text == "{"))) &&
              !(c.type == tk::name &&
                (c.text == "else" || c.text == "or" || c.text == "and" || c.text == "if" ||
                 c.text == "in" || c.text == "not" || c.text == "is"));
          if (arg_start) {
            KAITO_ASSIGN_OR_RETURN(auto arg, parse_primary());
            KAITO_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
            node->items.push_back(std::move(arg));
          }
        }
        node->negated = negated;
      } else if (is_op("(")) {
        KAITO_ASSIGN_OR_RETURN(node, parse_call(std::move(node), ek::call, ""));
      } else {
        return node;
      }
    }
  }
};

}  // namespace

result<std::shared_ptr<const jinja_template_ast>> jinja_parse(std::string_view source) {
  KAITO_ASSIGN_OR_RETURN(auto tokens, jinja_lex(source));
  parser p(std::move(tokens));
  return p.run();
}

}  // namespace kaito::engine
