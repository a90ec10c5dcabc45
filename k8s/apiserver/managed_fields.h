// Server-side apply field ownership: metadata.managedFields, one entry per (manager, operation),
// each owning a set of field paths in the FieldsV1 notation (`f:<field>` for map keys,
// `k:{"name":"x"}` for the items of lists of objects keyed by `name`; other lists are atomic).
//
//   field_set s = fields_of(obj);          // every leaf path of an applied configuration / object
//   json f = to_fields_v1(s);               // {"f:spec":{"f:replicas":{}}}
//   auto r = apply_ownership(live, merged, applied, "kubectl", "apps/v1", force);
//       // -> 409 conflicts, or the object with the omitted fields removed and managedFields set
//   record_update(live_or_null, next, "kubectl-edit", "apps/v1");  // Update entries
//
// apiVersion, kind, metadata.{name,namespace,uid,resourceVersion,generation,creationTimestamp,
// managedFields} and `status` are never owned. Paths are vectors of FieldsV1 components.
// None of these throws.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::apiserver {

using json = nlohmann::json;
using field_path = std::vector<std::string>;
using field_set = std::set<field_path>;

field_set fields_of(const json& obj);
json to_fields_v1(const field_set& s);
field_set from_fields_v1(const json& f);
// ".spec.containers[name=\"app\"].image" for conflict messages.
std::string path_string(const field_path& p);

struct apply_conflict {
  std::string manager;
  std::string api_version;
  field_path path;
};

struct apply_outcome {
  std::vector<apply_conflict> conflicts;  // non-empty: refuse with 409 (nothing else is set)
  json object;                            // merged object, omitted fields removed, managedFields
};

// `live`: the stored object (may carry managedFields); `merged`: the applied configuration merged
// into it; `applied`: the configuration as sent.
apply_outcome apply_ownership(const json& live, json merged, const json& applied,
                              const std::string& manager, const std::string& api_version,
                              bool force);

// Records a non-apply write (create, update, patch) by `manager`: it takes the fields it changed or
// added; removed fields leave every set. `live` is null on create. Sets
// next.metadata.managedFields.
void record_update(const json* live, json& next, const std::string& manager,
                   const std::string& api_version);

// The 409 Status for apply conflicts, as the real server words it.
json conflict_status(const std::vector<apply_conflict>& conflicts, const std::string& group,
                     const std::string& resource, const std::string& name);

}  // namespace kaito::k8s::apiserver
