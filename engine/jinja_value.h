// jinja_value: the dynamic values of the chat-template Jinja interpreter, with Python semantics
// (jinja2 runs on Python objects): undefined, none, bool, int, float, str, list/tuple, dict
// (insertion-ordered, string keys), namespace and callables; Python's str()/repr(), truthiness,
// equality and ordering; json.dumps as transformers' `tojson` filter calls it; conversion from
// nlohmann::ordered_json.
//
// Thread-safety: values share immutable payloads (lists, dicts) through shared_ptr; a namespace
// is mutable and must stay within one render. Copyable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::engine {

class jinja_value;
using jinja_list = std::vector<jinja_value>;
using jinja_kwargs = std::vector<std::pair<std::string, jinja_value>>;
using jinja_function =
    std::function<result<jinja_value>(const jinja_list& args, const jinja_kwargs& kwargs)>;

// Insertion-ordered string-keyed map (Python dict with str keys).
struct jinja_dict {
  std::vector<std::pair<std::string, jinja_value>> items;
  std::unordered_map<std::string, size_t> index;
  const jinja_value* find(const std::string& key) const;
  void set(const std::string& key, jinja_value v);
};

class jinja_value {
 public:
  enum class kind { undefined, none, boolean, integer, floating, string, list, dict, ns, function };

  jinja_value() = default;  // undefined
  static jinja_value none();
  static jinja_value boolean(bool b);
  static jinja_value integer(int64_t i);
  static jinja_value floating(double f);
  static jinja_value string(std::string s);
  static jinja_value list(jinja_list items, bool tuple = false);
  static jinja_value dict(jinja_dict d);
  static jinja_value ns(jinja_dict d);  // a namespace(): attributes assignable with set
  static jinja_value function(std::string name, jinja_function fn);
  // JSON -> value (objects keep their key order).
  static jinja_value from_json(const nlohmann::ordered_json& j);

  kind type() const { return kind_; }
  bool is_undefined() const { return kind_ == kind::undefined; }
  bool is_none() const { return kind_ == kind::none; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_number() const { return kind_ == kind::integer || kind_ == kind::floating; }
  bool is_list() const { return kind_ == kind::list; }
  bool is_tuple() const { return kind_ == kind::list && tuple_; }
  bool is_dict() const { return kind_ == kind::dict; }
  bool is_ns() const { return kind_ == kind::ns; }
  bool is_function() const { return kind_ == kind::function; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_double() const {
    return kind_ == kind::integer || kind_ == kind::boolean ? double(i_) : f_;
  }
  const std::string& as_string() const { return *s_; }
  const jinja_list& as_list() const { return *list_; }
  const jinja_dict& as_dict() const { return *dict_; }
  jinja_dict& ns_dict() const { return *dict_; }  // namespaces are mutable
  const jinja_function& as_function() const { return *fn_; }
  const std::string& function_name() const { return *s_; }

  // Python truthiness (undefined is false).
  bool truthy() const;
  // Python str(): what {{ x }} prints (undefined prints nothing).
  std::string str() const;
  // Python repr() (strings quoted, as inside a printed list).
  std::string repr() const;
  // Python ==, with 1 == 1.0 == True and deep list/dict comparison.
  bool equals(const jinja_value& o) const;
  // Python <: numbers, strings and lists; invalid_argument for other pairs.
  static result<bool> less(const jinja_value& a, const jinja_value& b);
  // json.dumps(x, ensure_ascii, indent, separators, sort_keys); indent < 0 means None.
  result<std::string> to_json(bool ensure_ascii, int indent, const std::string* item_sep,
                              const std::string* key_sep, bool sort_keys) const;
  // Elements in this value counting nested ones (1 for scalars), saturating; bounds the cost of
  // printing or comparing it.
  uint64_t weight() const { return weight_; }
  // Container nesting depth (0 for scalars); bounds recursion over the value.
  uint32_t depth() const { return depth_; }
  // Length in Python terms (code points for strings); -1 when the value has no length.
  int64_t length() const;

 private:
  kind kind_ = kind::undefined;
  bool b_ = false;
  bool tuple_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<const jinja_list> list_;
  std::shared_ptr<jinja_dict> dict_;
  std::shared_ptr<const jinja_function> fn_;
  uint64_t weight_ = 1;
  uint32_t depth_ = 0;

  void append_str(std::string& out, bool quoted, int depth) const;
};

// Python float repr (shortest round-trip digits, exponent past 1e16 or below 1e-4).
std::string python_float_repr(double d);
// Code points of valid UTF-8 (strings are indexed and sliced by code point, as in Python).
std::vector<uint32_t> utf8_code_points(std::string_view s);
std::string utf8_from_code_points(const std::vector<uint32_t>& cps, size_t begin, size_t end);

}  // namespace kaito::engine
