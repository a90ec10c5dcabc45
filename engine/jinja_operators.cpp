// Python semantics of Jinja's arithmetic operators and slices (see jinja_operators.h).
#include "engine/jinja_operators.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kaito::engine {

using jv = jinja_value;

result<jinja_value> jinja_binary_op(const std::string& op, const jinja_value& a,
                                    const jinja_value& b, size_t max_value_size) {
  using k = jv::kind;
  if (a.is_undefined() || b.is_undefined())
    return invalid_argument("undefined value in '" + op + "' operation");
  const auto is_int = [](const jinja_value& v) {
    return v.type() == k::integer || v.type() == k::boolean;
  };
  const bool ints = is_int(a) && is_int(b);
  const bool nums =
      (is_int(a) || a.type() == k::floating) && (is_int(b) || b.type() == k::floating);
  const auto overflow = [&]() { return invalid_argument("integer overflow"); };
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return overflow();
      return jv::integer(r);
    }
    if (nums) return jv::floating(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) return jv::string(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      if (a.as_list().size() + b.as_list().size() > max_value_size)
        return status(status_code::resource_exhausted, "value too large");
      jinja_list r = a.as_list();
      r.insert(r.end(), b.as_list().begin(), b.as_list().end());
      return jv::list(std::move(r), a.is_tuple());
    }
    return invalid_argument("unsupported operand types for +");
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return overflow();
      return jv::integer(r);
    }
    if (nums) return jv::floating(a.as_double() - b.as_double());
    return invalid_argument("unsupported operand types for -");
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) return overflow();
      return jv::integer(r);
    }
    if (nums) return jv::floating(a.as_double() * b.as_double());
    const jinja_value* seq = a.is_string() || a.is_list() ? &a : &b;
    const jinja_value* cnt = seq == &a ? &b : &a;
    if ((seq->is_string() || seq->is_list()) && is_int(*cnt)) {
      const int64_t times = std::max<int64_t>(0, cnt->as_int());
      const size_t unit = seq->is_string() ? seq->as_string().size() : seq->as_list().size();
      if (unit && static_cast<uint64_t>(times) > max_value_size / unit)
        return status(status_code::resource_exhausted, "value too large");
      if (seq->is_string()) {
        std::string r;
        for (int64_t i = 0; i < times; ++i) r += seq->as_string();
        return jv::string(std::move(r));
      }
      jinja_list r;
      for (int64_t i = 0; i < times; ++i)
        r.insert(r.end(), seq->as_list().begin(), seq->as_list().end());
      return jv::list(std::move(r), seq->is_tuple());
    }
    return invalid_argument("unsupported operand types for *");
  }
  if (!nums) return invalid_argument("unsupported operand types for " + op);
  if (op == "/") {
    if (b.as_double() == 0) return invalid_argument("division by zero");
    return jv::floating(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) return invalid_argument("integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) return overflow();
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return jv::integer(op == "//" ? q : r);
    }
    const double x = a.as_double(), y = b.as_double();
    if (y == 0) return invalid_argument("float division or modulo by zero");
    double r = std::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    if (op == "%") return jv::floating(r);
    return jv::floating(std::floor(x / y));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t r = 1, base = a.as_int();
      for (int64_t i = 0; i < b.as_int(); ++i) {
        if (__builtin_mul_overflow(r, base, &r)) return overflow();
        if (r == 0 || r == 1 || (r == -1 && i > 64)) break;
      }
      return jv::integer(r);
    }
    return jv::floating(std::pow(a.as_double(), b.as_double()));
  }
  return invalid_argument("unknown operator " + op);
}

result<jinja_value> jinja_slice(const jinja_value& obj, const jinja_value* const parts[3]) {
  int64_t n = 0;
  std::vector<uint32_t> cps;
  if (obj.is_string()) {
    cps = utf8_code_points(obj.as_string());
    n = static_cast<int64_t>(cps.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.as_list().size());
  } else if (obj.is_undefined()) {
    return invalid_argument("undefined value is not subscriptable");
  } else {
    return jinja_value();
  }
  int64_t bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    if (!parts[i] || parts[i]->is_none()) continue;
    if (parts[i]->type() != jv::kind::integer && parts[i]->type() != jv::kind::boolean)
      return invalid_argument("slice indices must be integers or None");
    bounds[i] = parts[i]->as_int();
    given[i] = true;
  }
  const int64_t step = given[2] ? bounds[2] : 1;
  if (step == 0) return invalid_argument("slice step cannot be zero");
  // Python's PySlice_AdjustIndices.
  const auto adjust = [&](int64_t v, bool is_given, int64_t dflt) {
    if (!is_given) return dflt;
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  const int64_t start = adjust(bounds[0], given[0], step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(bounds[1], given[1], step < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx)
      out += utf8_from_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1);
    return jv::string(std::move(out));
  }
  jinja_list out;
  for (int64_t i : idx) out.push_back(obj.as_list()[static_cast<size_t>(i)]);
  return jv::list(std::move(out), obj.is_tuple());
}

}  // namespace kaito::engine
