// The Jinja tree walker (see jinja_interpreter.h); semantics follow jinja2's compiled code.
#include "engine/jinja_interpreter.h"

#include <cmath>
#include <unordered_map>

#include "engine/jinja_builtins.h"
#include "engine/jinja_operators.h"

namespace kaito::engine {
namespace {

using ek = jinja_expr::kind;
using nk = jinja_node::kind;
using jv = jinja_value;

std::string at(int line, int col) {
  return std::to_string(line) + ":" + std::to_string(col);
}

class interpreter {
 public:
  interpreter(const jinja_limits& l) : limits_(l) {}

  result<std::string> render(const jinja_template_ast& ast, const jinja_dict& vars) {
    scopes_.emplace_back();
    for (const auto& [k, v] : jinja_globals().items) scopes_.back()[k] = v;
    scopes_.emplace_back();
    for (const auto& [k, v] : vars.items) scopes_.back()[k] = v;
    std::string out;
    KAITO_TRY(exec(ast.body, out));
    return out;
  }

 private:
  enum class flow { normal, brk, cont };
  using scope = std::unordered_map<std::string, jinja_value>;

  jinja_limits limits_;
  std::vector<scope> scopes_;
  flow flow_ = flow::normal;
  size_t steps_ = 0;
  int call_depth_ = 0;

  status step(int line, int col) {
    if (++steps_ > limits_.max_steps)
      return status(status_code::resource_exhausted, "template evaluation step limit exceeded",
                    at(line, col));
    return {};
  }

  jinja_value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return jinja_value();
  }

  size_t value_size(const jinja_value& v) const {
    return v.is_string() ? v.as_string().size() : static_cast<size_t>(v.weight());
  }

  // ---- statements ---------------------------------------------------------------------------

  status exec(const jinja_body& body, std::string& out) {
    for (const auto& n : body) {
      KAITO_TRY(exec_node(*n, out));
      if (flow_ != flow::normal) return {};
      if (out.size() > limits_.max_output_bytes)
        return status(status_code::resource_exhausted, "template output too large",
                      at(n->line, n->column));
    }
    return {};
  }

  status assign(const std::vector<std::string>& targets, const jinja_value& v, int line, int col) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = v;
      return {};
    }
    if (!v.is_list() || v.as_list().size() != targets.size())
      return invalid_argument("cannot unpack into " + std::to_string(targets.size()) + " names",
                              at(line, col));
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = v.as_list()[i];
    return {};
  }

  status exec_node(const jinja_node& n, std::string& out) {
    KAITO_TRY(step(n.line, n.column));
    switch (n.type) {
      case nk::text:
        out += n.text;
        return {};
      case nk::output: {
        KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*n.expr));
        out += v.str();
        return {};
      }
      case nk::if_: {
        for (size_t i = 0; i < n.conditions.size(); ++i) {
          KAITO_ASSIGN_OR_RETURN(jinja_value c, eval(*n.conditions[i]));
          if (c.truthy()) return exec(n.bodies[i], out);
        }
        return exec(n.else_body, out);
      }
      case nk::for_:
        return exec_for(n, out);
      case nk::set: {
        KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*n.expr));
        if (!n.target_attr.empty()) {
          jinja_value obj = lookup(n.targets[0]);
          if (!obj.is_ns())
            return invalid_argument("can only set attributes of a namespace", at(n.line, n.column));
          obj.ns_dict().set(n.target_attr, std::move(v));
          return {};
        }
        return assign(n.targets, v, n.line, n.column);
      }
      case nk::set_block: {
        std::string captured;
        KAITO_TRY(exec(n.bodies[0], captured));
        scopes_.back()[n.targets[0]] = jv::string(std::move(captured));
        return {};
      }
      case nk::macro: {
        scopes_.back()[n.text] = make_macro(n);
        return {};
      }
      case nk::break_:
        flow_ = flow::brk;
        return {};
      case nk::continue_:
        flow_ = flow::cont;
        return {};
    }
    return {};
  }

  result<jinja_list> iterable_items(const jinja_value& v, int line, int col) {
    switch (v.type()) {
      case jv::kind::list:
        return v.as_list();
      case jv::kind::undefined:
        return jinja_list{};
      case jv::kind::string:
      case jv::kind::dict:
      case jv::kind::ns: {
        KAITO_ASSIGN_OR_RETURN(jinja_value l, jinja_filter("list", v, {}, {}));
        return l.as_list();
      }
      default:
        return invalid_argument("object is not iterable", at(line, col));
    }
  }

  status exec_for(const jinja_node& n, std::string& out) {
    KAITO_ASSIGN_OR_RETURN(jinja_value seq, eval(*n.expr));
    KAITO_ASSIGN_OR_RETURN(jinja_list items, iterable_items(seq, n.line, n.column));
    if (n.filter) {
      jinja_list kept;
      for (const auto& it : items) {
        scopes_.emplace_back();
        status st = assign(n.targets, it, n.line, n.column);
        result<jinja_value> c = st.ok() ? eval(*n.filter) : result<jinja_value>(st);
        scopes_.pop_back();
        if (!c.ok()) return c.error();
        if (c->truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(n.else_body, out);
    const size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
      scopes_.emplace_back();
      jinja_dict loop;
      loop.set("index", jv::integer(static_cast<int64_t>(i + 1)));
      loop.set("index0", jv::integer(static_cast<int64_t>(i)));
      loop.set("revindex", jv::integer(static_cast<int64_t>(len - i)));
      loop.set("revindex0", jv::integer(static_cast<int64_t>(len - i - 1)));
      loop.set("first", jv::boolean(i == 0));
      loop.set("last", jv::boolean(i + 1 == len));
      loop.set("length", jv::integer(static_cast<int64_t>(len)));
      loop.set("depth", jv::integer(1));
      loop.set("depth0", jv::integer(0));
      if (i > 0) loop.set("previtem", items[i - 1]);
      if (i + 1 < len) loop.set("nextitem", items[i + 1]);
      loop.set("cycle",
               jv::function("cycle",
                            [i](const jinja_list& a, const jinja_kwargs&) -> result<jinja_value> {
                              if (a.empty()) return invalid_argument("no items for cycling given");
                              return a[i % a.size()];
                            }));
      scopes_.back()["loop"] = jv::dict(std::move(loop));
      status st = assign(n.targets, items[i], n.line, n.column);
      if (st.ok()) st = exec(n.bodies[0], out);
      scopes_.pop_back();
      KAITO_TRY(st);
      if (flow_ == flow::brk) {
        flow_ = flow::normal;
        break;
      }
      flow_ = flow::normal;
    }
    return {};
  }

  jinja_value make_macro(const jinja_node& n) {
    const jinja_node* node = &n;
    return jv::function(
        n.text,
        [this, node](const jinja_list& args, const jinja_kwargs& kwargs) -> result<jinja_value> {
          if (call_depth_ >= limits_.max_call_depth)
            return status(status_code::resource_exhausted, "macro calls nested too deeply",
                          at(node->line, node->column));
          const auto& params = node->targets;
          if (args.size() > params.size())
            return invalid_argument(
                "macro '" + node->text + "' takes " + std::to_string(params.size()) + " arguments",
                at(node->line, node->column));
          // The macro body sees the template's globals and top-level names plus its parameters.
          std::vector<scope> saved;
          saved.swap(scopes_);
          scopes_.push_back(saved[0]);
          scopes_.push_back(saved.size() > 1 ? saved[1] : scope{});
          scopes_.emplace_back();
          const size_t first_default = params.size() - node->defaults.size();
          status st;
          for (size_t i = 0; i < params.size() && st.ok(); ++i) {
            jinja_value v;
            bool given = false;
            if (i < args.size()) {
              v = args[i];
              given = true;
            }
            for (const auto& [k, kv] : kwargs)
              if (k == params[i]) v = kv, given = true;
            if (!given && i >= first_default) {
              auto d = eval(*node->defaults[i - first_default]);
              if (!d.ok())
                st = d.error();
              else
                v = std::move(d).value();
            }
            scopes_.back()[params[i]] = v;
          }
          std::string out;
          ++call_depth_;
          if (st.ok()) st = exec(node->bodies[0], out);
          --call_depth_;
          flow_ = flow::normal;
          scopes_.swap(saved);
          KAITO_TRY(st);
          return jv::string(std::move(out));
        });
  }

  // ---- expressions --------------------------------------------------------------------------

  result<jinja_value> eval(const jinja_expr& e) {
    KAITO_TRY(step(e.line, e.column));
    KAITO_ASSIGN_OR_RETURN(jinja_value v, eval_inner(e));
    if (value_size(v) > limits_.max_value_size || v.depth() > limits_.max_value_depth)
      return status(status_code::resource_exhausted, "value too large", at(e.line, e.column));
    return v;
  }

  status error_at(const jinja_expr& e, const std::string& msg) const {
    return invalid_argument(msg, at(e.line, e.column));
  }

  result<jinja_value> get_attr(const jinja_value& obj, const std::string& name,
                               const jinja_expr& e) {
    if (obj.is_undefined()) return error_at(e, "undefined value has no attribute '" + name + "'");
    jinja_value m = jinja_method(obj, name);
    if (!m.is_undefined()) return m;
    if (obj.is_dict() || obj.is_ns()) {
      const jinja_value* f = obj.as_dict().find(name);
      if (f) return *f;
    }
    return jinja_value();
  }

  result<jinja_value> get_item(const jinja_value& obj, const jinja_value& key,
                               const jinja_expr& e) {
    if (obj.is_undefined()) return error_at(e, "undefined value is not subscriptable");
    if ((obj.is_dict() || obj.is_ns()) && key.is_string()) {
      const jinja_value* f = obj.as_dict().find(key.as_string());
      if (f) return *f;
    }
    const bool int_key = key.type() == jv::kind::integer || key.type() == jv::kind::boolean;
    if (obj.is_list() && int_key) {
      int64_t i = key.as_int();
      const int64_t n = static_cast<int64_t>(obj.as_list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.as_list()[static_cast<size_t>(i)];
      return jinja_value();
    }
    if (obj.is_string() && int_key) {
      const auto cps = utf8_code_points(obj.as_string());
      int64_t i = key.as_int();
      const int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        return jv::string(
            utf8_from_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
      }
      return jinja_value();
    }
    if (key.is_string()) return get_attr(obj, key.as_string(), e);
    return jinja_value();
  }

  status eval_args(const jinja_expr& e, size_t from, jinja_list& args, jinja_kwargs& kwargs) {
    for (size_t i = from; i < e.items.size(); ++i) {
      KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*e.items[i]));
      args.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*x));
      kwargs.emplace_back(k, std::move(v));
    }
    return {};
  }

  result<jinja_value> arith(const std::string& op, const jinja_value& a, const jinja_value& b,
                            const jinja_expr& e) {
    auto r = jinja_binary_op(op, a, b, limits_.max_value_size);
    if (!r.ok()) return status(r.error().code(), r.error().message(), at(e.line, e.column));
    return r;
  }

  result<jinja_value> eval_inner(const jinja_expr& e) {
    switch (e.type) {
      case ek::literal:
        return e.value;
      case ek::name:
        return lookup(e.name);
      case ek::list: {
        jinja_list items;
        for (const auto& x : e.items) {
          KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*x));
          items.push_back(std::move(v));
        }
        return jv::list(std::move(items), e.is_tuple);
      }
      case ek::dict: {
        jinja_dict d;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          KAITO_ASSIGN_OR_RETURN(jinja_value k, eval(*e.items[i]));
          KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*e.items[i + 1]));
          if (!k.is_string()) return error_at(e, "only string dictionary keys are supported");
          d.set(k.as_string(), std::move(v));
        }
        return jv::dict(std::move(d));
      }
      case ek::attr: {
        KAITO_ASSIGN_OR_RETURN(jinja_value obj, eval(*e.items[0]));
        return get_attr(obj, e.name, e);
      }
      case ek::subscript: {
        KAITO_ASSIGN_OR_RETURN(jinja_value obj, eval(*e.items[0]));
        KAITO_ASSIGN_OR_RETURN(jinja_value key, eval(*e.items[1]));
        return get_item(obj, key, e);
      }
      case ek::slice: {
        KAITO_ASSIGN_OR_RETURN(jinja_value obj, eval(*e.items[0]));
        jinja_value vals[3];
        const jinja_value* parts[3] = {nullptr, nullptr, nullptr};
        for (int i = 0; i < 3; ++i) {
          if (!e.items[static_cast<size_t>(i) + 1]) continue;
          KAITO_ASSIGN_OR_RETURN(vals[i], eval(*e.items[static_cast<size_t>(i) + 1]));
          parts[i] = &vals[i];
        }
        auto r = jinja_slice(obj, parts);
        if (!r.ok()) return status(r.error().code(), r.error().message(), at(e.line, e.column));
        return r;
      }
      case ek::call: {
        KAITO_ASSIGN_OR_RETURN(jinja_value fn, eval(*e.items[0]));
        if (!fn.is_function()) return error_at(e, "object is not callable");
        jinja_list args;
        jinja_kwargs kwargs;
        KAITO_TRY(eval_args(e, 1, args, kwargs));
        auto r = fn.as_function()(args, kwargs);
        if (!r.ok() && r.error().where().empty())
          return status(r.error().code(), r.error().message(), at(e.line, e.column));
        return r;
      }
      case ek::filter: {
        KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*e.items[0]));
        jinja_list args;
        jinja_kwargs kwargs;
        KAITO_TRY(eval_args(e, 1, args, kwargs));
        auto r = jinja_filter(e.name, v, args, kwargs);
        if (!r.ok()) return error_at(e, r.error().message());
        return r;
      }
      case ek::test: {
        jinja_value v;
        if (e.name == "defined" || e.name == "undefined") {
          // `x is defined` never fails on a missing name or attribute.
          auto r = eval(*e.items[0]);
          if (r.ok())
            v = std::move(r).value();
          else if (r.error().code() != status_code::invalid_argument)
            return r.error();
        } else {
          KAITO_ASSIGN_OR_RETURN(v, eval(*e.items[0]));
        }
        jinja_list args;
        jinja_kwargs kwargs;
        KAITO_TRY(eval_args(e, 1, args, kwargs));
        auto r = jinja_test(e.name, v, args);
        if (!r.ok()) return error_at(e, r.error().message());
        return jv::boolean(*r != e.negated);
      }
      case ek::unary: {
        KAITO_ASSIGN_OR_RETURN(jinja_value v, eval(*e.items[0]));
        if (e.name == "not") return jv::boolean(!v.truthy());
        if (v.type() == jv::kind::integer || v.type() == jv::kind::boolean) {
          if (e.name == "+") return jv::integer(v.as_int());
          if (v.as_int() == INT64_MIN) return error_at(e, "integer overflow");
          return jv::integer(-v.as_int());
        }
        if (v.type() == jv::kind::floating)
          return jv::floating(e.name == "-" ? -v.as_double() : v.as_double());
        return error_at(e, "bad operand type for unary " + e.name);
      }
      case ek::binary: {
        KAITO_ASSIGN_OR_RETURN(jinja_value a, eval(*e.items[0]));
        if (e.name == "and") {
          if (!a.truthy()) return a;
          return eval(*e.items[1]);
        }
        if (e.name == "or") {
          if (a.truthy()) return a;
          return eval(*e.items[1]);
        }
        KAITO_ASSIGN_OR_RETURN(jinja_value b, eval(*e.items[1]));
        if (e.name == "~") {
          if (a.str().size() + b.str().size() > limits_.max_value_size)
            return status(status_code::resource_exhausted, "value too large", at(e.line, e.column));
          return jv::string(a.str() + b.str());
        }
        return arith(e.name, a, b, e);
      }
      case ek::compare: {
        KAITO_ASSIGN_OR_RETURN(jinja_value left, eval(*e.items[0]));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          KAITO_ASSIGN_OR_RETURN(jinja_value right, eval(*e.items[i + 1]));
          const std::string& op = e.ops[i];
          bool ok = false;
          if (op == "==") {
            ok = left.equals(right);
          } else if (op == "!=") {
            ok = !left.equals(right);
          } else if (op == "in" || op == "notin") {
            auto c = jinja_contains(right, left);
            if (!c.ok()) return error_at(e, c.error().message());
            ok = *c == (op == "in");
          } else {
            if (left.is_undefined() || right.is_undefined())
              return error_at(e, "undefined value in comparison");
            auto lt = jinja_value::less(left, right);
            auto gt = jinja_value::less(right, left);
            if (!lt.ok() || !gt.ok())
              return error_at(e, "'" + op + "' not supported between these types");
            ok = op == "<" ? *lt : op == ">" ? *gt : op == "<=" ? !*gt : !*lt;
          }
          if (!ok) return jv::boolean(false);
          left = std::move(right);
        }
        return jv::boolean(true);
      }
      case ek::condexpr: {
        KAITO_ASSIGN_OR_RETURN(jinja_value c, eval(*e.items[0]));
        if (c.truthy()) return eval(*e.items[1]);
        if (e.items[2]) return eval(*e.items[2]);
        return jinja_value();
      }
    }
    return error_at(e, "unknown expression");
  }
};

}  // namespace

result<std::string> jinja_render(const jinja_template_ast& ast, const jinja_dict& vars,
                                 const jinja_limits& limits) {
  interpreter in(limits);
  return in.render(ast, vars);
}

}  // namespace kaito::engine
