#include "presets/yaml_reader.h"

#include <cmath>
#include <exception>
#include <utility>

#include "presets/quantity.h"

namespace kaito::presets {

void read_context::fail(const YAML::Mark& mark, const std::string& path, const std::string& msg) {
  if (!error.ok()) return;
  std::string where = file;
  if (!mark.is_null())
    where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  error = invalid_argument(path.empty() ? msg : path + ": " + msg, where);
}

YAML::Node parse_yaml_document(std::string_view text, read_context& cx) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    cx.fail(e.mark, "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    cx.fail(YAML::Mark::null_mark(), "", std::string("YAML error: ") + e.what());
  }
  return YAML::Node();
}

map_reader::map_reader(read_context& cx, const YAML::Node& node, std::string path)
    : cx_(cx), node_(node), path_(std::move(path)) {
  if (cx_.ok() && !node_.IsMap())
    cx_.fail(node_.Mark(), path_.empty() ? "document" : path_, "expected a mapping");
}

std::string map_reader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void map_reader::fail(std::string_view key, const std::string& msg) {
  if (key.empty()) {
    cx_.fail(node_.Mark(), path_, msg);
    return;
  }
  YAML::Node v = node_.IsMap() ? std::as_const(node_)[std::string(key)] : YAML::Node();
  cx_.fail(v.IsDefined() ? v.Mark() : node_.Mark(), child_path(key), msg);
}

bool map_reader::has(std::string_view key) const {
  if (!node_.IsMap()) return false;
  YAML::Node v = node_[std::string(key)];
  return v.IsDefined() && !v.IsNull();
}

YAML::Node map_reader::take(std::string_view key, presence p) {
  if (!cx_.ok() || !node_.IsMap()) return YAML::Node();
  used_.emplace(key);
  YAML::Node v = std::as_const(node_)[std::string(key)];
  if (!present(v)) {
    if (p == presence::required)
      cx_.fail(node_.Mark(), child_path(key), "required field is missing");
    return YAML::Node();
  }
  return v;
}

void map_reader::integer(std::string_view key, int64_t& out, presence p, int64_t min_value) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  int64_t x = 0;
  if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, x)) {
    fail(key, "expected an integer");
  } else if (x < min_value) {
    fail(key, "must be at least " + std::to_string(min_value) + ", got " + std::to_string(x));
  } else {
    out = x;
  }
}

void map_reader::number(std::string_view key, double& out, presence p, bool positive) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  double x = 0;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, x) || !std::isfinite(x)) {
    fail(key, "expected a finite number");
  } else if (positive && !(x > 0)) {
    fail(key, "must be positive");
  } else {
    out = x;
  }
}

void map_reader::boolean(std::string_view key, bool& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  const std::string& s = v.IsScalar() ? v.Scalar() : std::string();
  if (s == "true")
    out = true;
  else if (s == "false")
    out = false;
  else
    fail(key, "expected true or false");
}

void map_reader::text(std::string_view key, std::string& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  if (!v.IsScalar())
    fail(key, "expected a string");
  else
    out = v.Scalar();
}

void map_reader::quantity(std::string_view key, int64_t& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  if (!v.IsScalar()) {
    fail(key, "expected a quantity such as 16Gi");
    return;
  }
  auto q = parse_quantity(v.Scalar());
  if (!q.ok())
    fail(key, q.error().message());
  else
    out = q.value();
}

namespace {
template <class T, class F>
void read_list(const YAML::Node& v, std::vector<T>& out, F&& item, bool& bad) {
  out.clear();
  if (v.IsScalar()) {
    T x{};
    if (!item(v, x)) bad = true;
    out.push_back(x);
    return;
  }
  if (!v.IsSequence()) {
    bad = true;
    return;
  }
  for (const YAML::Node& e : v) {
    T x{};
    if (!e.IsScalar() || !item(e, x)) {
      bad = true;
      return;
    }
    out.push_back(std::move(x));
  }
}
}  // namespace

void map_reader::integer_list(std::string_view key, std::vector<int64_t>& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  bool bad = false;
  read_list(
      v, out, [](const YAML::Node& n, int64_t& x) { return YAML::convert<int64_t>::decode(n, x); },
      bad);
  if (bad) fail(key, "expected an integer or a list of integers");
}

void map_reader::number_list(std::string_view key, std::vector<double>& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  bool bad = false;
  read_list(
      v, out,
      [](const YAML::Node& n, double& x) {
        return YAML::convert<double>::decode(n, x) && std::isfinite(x);
      },
      bad);
  if (bad) fail(key, "expected a list of finite numbers");
}

void map_reader::text_list(std::string_view key, std::vector<std::string>& out, presence p) {
  YAML::Node v = take(key, p);
  if (!present(v)) return;
  if (!v.IsSequence()) {
    fail(key, "expected a list of strings");
    return;
  }
  bool bad = false;
  read_list(
      v, out,
      [](const YAML::Node& n, std::string& x) {
        x = n.Scalar();
        return true;
      },
      bad);
  if (bad) fail(key, "expected a list of strings");
}

YAML::Node map_reader::child(std::string_view key, presence p) {
  return take(key, p);
}

void map_reader::finish() {
  if (!cx_.ok() || !node_.IsMap()) return;
  for (const auto& kv : node_) {
    const YAML::Node& k = kv.first;
    std::string name = k.IsScalar() ? k.Scalar() : std::string("<non-scalar key>");
    if (!used_.count(name)) {
      cx_.fail(k.Mark(), child_path(name), "unknown field \"" + name + "\"");
      return;
    }
  }
}

}  // namespace kaito::presets
