// json_schema_compiler: what json_schema::compile runs (engine-internal): json_schema.cpp reads
// the document and its references, json_schema_keywords.cpp the assertions of one schema object,
// json_schema_prove.cpp proves which values can end and leaves out the rest.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/json_schema.h"

namespace kaito::engine {

namespace schema_detail {
using ojson = nlohmann::ordered_json;
using node = schema_node;

extern const std::set<std::string_view> kUnsupported;  // assertions we cannot enforce
extern const std::set<std::string_view> kAssertions;   // those we do
constexpr int kMaxSchemaDepth = 100;
constexpr size_t kMaxKeys = 64;

status unsupported(const std::string& what, const std::string& where);
std::string text_of(const ojson& v);
// The types whose values `v` is (an integral float is an integer too, as JSON Schema says).
uint8_t types_of(const ojson& v);
result<int64_t> count_of(const ojson& v, const std::string& where);
int64_t clamp_integer(long double x);
std::string pointer_token(const std::string& key);
}  // namespace schema_detail

class schema_compiler {
 public:
  using ojson = schema_detail::ojson;
  using node = schema_detail::node;
  schema_compiler(const ojson& root, std::string where) : root_(root), where_(std::move(where)) {}

  result<std::shared_ptr<const json_schema>> run();

 private:
  result<int32_t> compile(const ojson& s, const std::string& path, const std::string& pointer,
                          int depth);
  result<node> fill(const ojson& s, const std::string& path, const std::string& pointer, int depth);
  result<int32_t> compile_ref(const ojson& v, const std::string& at, int depth);
  status read_types(const ojson& s, const std::string& path, node& n);
  status read_literals(const ojson& s, const std::string& path, node& n);
  status read_string(const ojson& s, const std::string& path, node& n);
  status read_bounds(const ojson& s, const std::string& path, node& n);
  status read_array(const ojson& s, const std::string& path, const std::string& pointer, int depth,
                    node& n);
  status read_object(const ojson& s, const std::string& path, const std::string& pointer, int depth,
                     node& n);
  // leaves_: what each node's value follows; a cycle of references or anyOf with nothing in
  // between would never start a value.
  status find_leaves();
  // sat_: the least fixpoint of "admits a finite value", and for leaves which types do.
  uint8_t sat_types(const node& n) const;
  void prove_finite();
  // Leave out what admits nothing, so the matcher never starts a value it cannot end.
  void prune();

  const ojson& root_;
  std::string where_;
  json_schema out_;
  std::map<std::string, int32_t> by_pointer_;
  std::vector<bool> sat_;
};

}  // namespace kaito::engine
