// field_errors: admission errors as Kubernetes field errors, and their single 422 Status.
//
// Each rule in workspace_validation adds one field_error: a JSON field path
// ("tuning.input.urls[0]"), a cause reason (FieldValueInvalid, FieldValueRequired,
// FieldValueNotSupported, FieldValueTooMany, FieldValueForbidden) and a message rendered the way
// k8s.io/apimachinery field.Error renders its body: `Invalid value: "x": <Kaito's words>`,
// `Required value: <Kaito's words>`, `Unsupported value: "x": supported values: "a", "b"`.
// Kaito's generic errors (apis.ErrGeneric) carry Kaito's sentence alone.
//
// invalid_status collects all of them into ONE Status: code 422, reason Invalid,
// details{name, group kaito.sh, kind Workspace, causes[]}, message
// `Workspace.kaito.sh "name" is invalid: [f1: m1, f2: m2]` (no brackets for a single error), as the
// API server words it.
//
// Thread-safety: values only.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/api/meta.h"

namespace kaito::api {

struct field_error {
  std::string field;
  std::string reason;
  std::string message;
  std::string to_string() const { return field.empty() ? message : field + ": " + message; }
};

// Go's %q-like rendering of a value in `Invalid value: ...` (strings quoted, numbers bare).
std::string render_value(const nlohmann::json& v);

class field_errors {
 public:
  void invalid(const std::string& field, const nlohmann::json& value, const std::string& detail);
  void required(const std::string& field, const std::string& detail = {});
  void not_supported(const std::string& field, const std::string& value,
                     const std::vector<std::string>& supported);
  void forbidden(const std::string& field, const std::string& detail);
  void too_many(const std::string& field, const std::string& detail);
  // Kaito's apis.ErrGeneric: its sentence, reason FieldValueInvalid.
  void generic(const std::string& field, const std::string& detail);
  void add(field_error e) { errs_.push_back(std::move(e)); }
  void append(const std::vector<field_error>& more);

  bool empty() const { return errs_.empty(); }
  size_t size() const { return errs_.size(); }
  const std::vector<field_error>& list() const { return errs_; }

 private:
  std::vector<field_error> errs_;
};

// The one 422 Invalid Status for a Workspace named `name` (kind "Workspace", group "kaito.sh").
k8s_status invalid_status(const std::string& name, const std::vector<field_error>& errs,
                          const std::string& kind = "Workspace",
                          const std::string& group = "kaito.sh");

}  // namespace kaito::api
