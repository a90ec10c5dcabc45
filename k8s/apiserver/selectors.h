// Label and field selectors from list/watch query strings.
//
// Label selector syntax: comma-AND of `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`
// (exists), `!k` (does not exist). `!=` and `notin` match objects that lack the key.
// Field selectors: `metadata.name`, `metadata.namespace` for every resource, plus per-resource
// fields (events: involvedObject.*, reason, type, source; pods: spec.nodeName, status.phase, ...);
// operators `=`, `==`, `!=`. Anything else is an error naming the field ("field label not
// supported: X"), which the server answers with 400.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

struct label_requirement {
  enum class op { eq, neq, in, notin, exists, not_exists } kind = op::eq;
  std::string key;
  std::vector<std::string> values;
};

struct label_selector {
  std::vector<label_requirement> reqs;
  bool matches(const json& labels) const;  // labels: the metadata.labels object (or null)
};

result<label_selector> parse_label_selector(const std::string& text);

struct field_requirement {
  std::string field;
  std::string value;
  bool negate = false;
};

struct field_selector {
  std::vector<field_requirement> reqs;
  bool matches(const json& obj) const;
};

// `resource` is the plural ("events", "pods", "workspaces") and decides the supported fields.
result<field_selector> parse_field_selector(const std::string& text, const std::string& resource);

}  // namespace kaito::k8s::apiserver
