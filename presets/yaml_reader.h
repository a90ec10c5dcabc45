// yaml_reader: strict, non-throwing reads of YAML mappings for the preset and SKU loaders.
//
// A map_reader wraps one YAML mapping at a field path ("architecture.rope_scaling"). Each typed
// read marks its key as used; finish() reports the first key never read ("unknown field"). The
// first error wins and is kept in the shared read_context, as a status whose where() is
// "<file>:<line>:<column>" (1-based, from yaml-cpp's marks) and whose message starts with the field
// path. Later reads after an error are no-ops. A key whose value is YAML null counts as absent.
// Nothing here throws: yaml-cpp conversions go through YAML::convert<T>::decode.
//
// Thread-safety: one reader per thread.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/status.h"

namespace kaito::presets {

struct read_context {
  std::string file;
  status error;
  bool ok() const { return error.ok(); }
  // Records the error (if it is the first) at `mark`, message "<path>: <msg>".
  void fail(const YAML::Mark& mark, const std::string& path, const std::string& msg);
};

// Parses a whole document; on a syntax error records "<file>:<line>:<col>" and returns a null node.
YAML::Node parse_yaml_document(std::string_view text, read_context& cx);

enum class presence { required, optional };

// True for a node that exists and is not YAML null (a default-constructed YAML::Node is a null
// node).
inline bool present(const YAML::Node& n) {
  return n.IsDefined() && !n.IsNull();
}

class map_reader {
 public:
  // `node` must be a mapping; otherwise an error is recorded at it.
  map_reader(read_context& cx, const YAML::Node& node, std::string path);

  bool ok() const { return cx_.ok(); }
  // True when the key is present with a non-null value (does not mark it used).
  bool has(std::string_view key) const;

  void integer(std::string_view key, int64_t& out, presence p, int64_t min_value);
  void number(std::string_view key, double& out, presence p, bool positive);
  void boolean(std::string_view key, bool& out, presence p);
  void text(std::string_view key, std::string& out, presence p);
  void quantity(std::string_view key, int64_t& out, presence p);
  // A scalar or a sequence of scalars.
  void integer_list(std::string_view key, std::vector<int64_t>& out, presence p);
  void number_list(std::string_view key, std::vector<double>& out, presence p);
  void text_list(std::string_view key, std::vector<std::string>& out, presence p);
  // The node under `key` (marked used), or a null node when absent (an error when required).
  YAML::Node child(std::string_view key, presence p);
  std::string child_path(std::string_view key) const;

  // Records "unknown field" for the first key no read asked for.
  void finish();

  // Records an error about `key` (or the map itself when key is empty).
  void fail(std::string_view key, const std::string& msg);

 private:
  YAML::Node take(std::string_view key, presence p);  // null node when absent or after an error

  read_context& cx_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

}  // namespace kaito::presets
