// meta: the Kubernetes object metadata, conditions and the `Status` error object, as kaito-cpp
// sees them, plus the one mapping from kaito::status codes to HTTP codes and Kubernetes reasons.
//
// object_meta keeps every field the API server sets (uid, resourceVersion, generation, timestamps,
// ownerReferences, finalizers); managedFields and anything unknown are kept as raw JSON so that
// re-encoding a decoded object gives the same JSON. Timestamps are RFC 3339 strings, unparsed.
//
// k8s_status is the `kind: Status` body every error response carries. For Invalid errors
// details.kind is the Kind ("Workspace") and each cause names a field; kubectl prints those as
// `The Workspace "x" is invalid: <field>: <message>` (see format_kubectl_invalid).
//
// Thread-safety: values only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

using json = nlohmann::json;

struct owner_reference {
  std::string api_version;  // apiVersion
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> block_owner_deletion;  // blockOwnerDeletion
  json extra = json::object();
};

struct object_meta {
  std::optional<std::string> name;
  std::optional<std::string> generate_name;  // generateName
  std::optional<std::string> namespace_;     // namespace
  std::optional<std::string> uid;
  std::optional<std::string> resource_version;  // resourceVersion
  std::optional<int64_t> generation;
  std::optional<std::string> creation_timestamp;  // creationTimestamp (RFC 3339)
  std::optional<std::string> deletion_timestamp;  // deletionTimestamp
  std::optional<int64_t> deletion_grace_period_seconds;
  std::optional<std::map<std::string, std::string>> labels;
  std::optional<std::map<std::string, std::string>> annotations;
  std::optional<std::vector<owner_reference>> owner_references;  // ownerReferences
  std::optional<std::vector<std::string>> finalizers;
  std::optional<json> managed_fields;  // managedFields, raw
  json extra = json::object();         // unknown keys, re-emitted as they came
};

// metav1.Condition.
struct condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::optional<int64_t> observed_generation;
  std::string last_transition_time;  // RFC 3339
  std::string reason;
  std::string message;
  json extra = json::object();
};

struct status_cause {
  std::string reason;  // "FieldValueInvalid", "FieldValueRequired", ...
  std::string message;
  std::string field;  // "tuning.input.urls[0]"
};

struct status_details {
  std::string name;
  std::string group;
  std::string kind;
  std::string uid;
  std::vector<status_cause> causes;
};

// The `kind: Status`, `apiVersion: v1` object.
struct k8s_status {
  std::string status = "Failure";  // "Success" | "Failure"
  std::string message;
  std::string reason;  // "Invalid", "NotFound", ...; empty for Success
  std::optional<status_details> details;
  int code = 500;
};

json encode_status(const k8s_status& s);
result<k8s_status> decode_status(const json& j);

// The one mapping from status codes to HTTP: e.g. invalid_argument -> {400, "BadRequest"},
// not_found -> {404, "NotFound"}, already_exists -> {409, "AlreadyExists"}, conflict -> {409,
// "Conflict"}, unavailable -> {503, "ServiceUnavailable"}.
struct http_reason {
  int code;
  const char* reason;
};
http_reason http_reason_for(status_code c);

// A Status object for any non-invalid error (message from the status, reason from the mapping).
k8s_status status_from(const kaito::status& s);

// kubectl's rendering of a 422 Invalid Status: `The Workspace "x" is invalid: f: m` for one cause,
// `The Workspace "x" is invalid: \n* f1: m1\n* f2: m2` for several (no trailing newline).
std::string format_kubectl_invalid(const k8s_status& s);

// Codecs. decode_* return invalid_argument naming the path on type mismatches; unknown keys land in
// `extra` and are reported as `unknown field "<path>.<key>"` in *warnings (when not null).
result<object_meta> decode_object_meta(const json& j, const std::string& path,
                                       std::vector<std::string>* warnings);
json encode_object_meta(const object_meta& m);
result<condition> decode_condition(const json& j, const std::string& path,
                                   std::vector<std::string>* warnings);
json encode_condition(const condition& c);

}  // namespace kaito::api
