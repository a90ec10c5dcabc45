// json_schema: a JSON Schema compiled for constrained generation (OpenAI's response_format
// {"type": "json_schema"}, vLLM's guided_json). engine/schema_matcher.h walks it byte by byte.
//
//   auto s = json_schema::parse(R"({"type":"object","properties":{"n":{"type":"integer"}}})",
//                               "response_format.json_schema.schema");
//   schema_matcher m(*s);   // m.feed("{\"n\": 4") ...
//
// What is enforced (drafts 4 to 2020-12): type (one name or a list), enum and const (a value is
// one of them, written as nlohmann writes it: compact, keys in the schema's order), properties,
// required, additionalProperties (true when absent, as the specification says; a schema or a
// boolean), items (a schema, or draft 4's list), prefixItems, additionalItems, minItems,
// maxItems, minLength and maxLength (code points), pattern (json_regex.h: matched anywhere unless
// anchored, as the specification says; such a string is written in ASCII), minimum, maximum,
// exclusiveMinimum and
// exclusiveMaximum (draft 4's booleans too; exact on integers; on other numbers compared as the
// doubles a client reads, and such a number is written without an exponent); anyOf, oneOf (as
// anyOf: one branch is followed, so an answer may match two), allOf of one schema, and $ref within
// the document ("#", "#/$defs/...", "#/definitions/...", any JSON pointer; recursion allowed),
// OpenAPI 3.0's nullable (beside a $ref or anyOf too).
// Annotations are ignored (title, description, default, examples, format, ...), and so are
// keywords this list does not know, as the specification says. Assertions it cannot enforce are
// unimplemented naming their path: patternProperties, propertyNames, min/maxProperties,
// dependencies, if/then/else, not, contains, uniqueItems true, multipleOf, unevaluated*, allOf
// of several, anyOf/$ref beside other assertions, references outside the document, more than 64
// properties in one object.
// Compiling also proves every value can end: a schema (or a required property, an item
// minItems needs, an anyOf branch) that admits no finite value is refused (root) or left out
// (a branch, an optional property), so a generation can always be finished.
//
// Thread-safety: immutable after compile; shared by concurrent generations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/json_regex.h"

namespace kaito::engine {

struct schema_node {
  enum type_bits : uint8_t {
    t_null = 1,
    t_boolean = 2,
    t_integer = 4,  // integers only (no fraction, no exponent)
    t_number = 8,   // any number (integers too)
    t_string = 16,
    t_array = 32,
    t_object = 64,
    t_all = 127,
  };
  static constexpr int32_t kNone = -1;  // no schema (false): nothing may come
  static constexpr int32_t kAny = 0;    // node 0 admits any JSON value

  // Non-empty: this node is the union of these (leaves: no any_of of their own).
  std::vector<int32_t> any_of;
  uint8_t types = t_all;
  // enum / const: the value's text is one of these (sorted, unique); types then unused.
  bool literal_only = false;
  std::vector<std::string> literals;
  // strings: lengths in code points; pattern: the characters' DFA (json_regex.h), null: none
  int64_t min_length = 0, max_length = -1;  // -1: unbounded
  std::shared_ptr<const json_regex> pattern;
  // integers (types without t_number)
  bool has_minimum = false, has_maximum = false;
  int64_t minimum = 0, maximum = 0;
  // numbers (t_number): bounds as doubles, each inclusive or exclusive; with either, a number is
  // written without an exponent (plain decimal: its value known as it grows)
  bool has_num_min = false, has_num_max = false, num_min_exclusive = false,
       num_max_exclusive = false;
  double num_min = 0, num_max = 0;
  // arrays: item i's schema is prefix_items[i], then items (kNone: no more items)
  std::vector<int32_t> prefix_items;
  int32_t items = kAny;
  int64_t min_items = 0, max_items = -1;
  // objects: keys as written inside the quotes (JSON-escaped), sorted; their schemas
  std::vector<std::string> keys;
  std::vector<int32_t> key_nodes;
  uint64_t required = 0;  // bit i: keys[i] must come
  int32_t additional = kAny;

  int32_t item_node(int64_t i) const {
    return i < static_cast<int64_t>(prefix_items.size()) ? prefix_items[static_cast<size_t>(i)]
                                                         : items;
  }
};

class json_schema {
 public:
  // `where` names the schema in errors ("response_format.json_schema.schema"): a keyword's path
  // is appended to it ("...schema.properties.age.minimum").
  static result<std::shared_ptr<const json_schema>> compile(const nlohmann::ordered_json& schema,
                                                            const std::string& where);
  // The schema as JSON text.
  static result<std::shared_ptr<const json_schema>> parse(std::string_view text,
                                                          const std::string& where);

  int32_t root() const { return root_; }
  const schema_node& node(int32_t i) const { return nodes_[static_cast<size_t>(i)]; }
  // The leaves a value of node i may follow (i itself unless it has any_of).
  const std::vector<int32_t>& leaves(int32_t i) const { return leaves_[static_cast<size_t>(i)]; }
  size_t size() const { return nodes_.size(); }

 private:
  friend class schema_compiler;
  std::vector<schema_node> nodes_;
  std::vector<std::vector<int32_t>> leaves_;
  int32_t root_ = schema_node::kAny;
};

}  // namespace kaito::engine
