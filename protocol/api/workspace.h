// workspace: decode, encode, default and convert kaito.sh Workspaces (types in workspace_types.h).
//
// decode_workspace(json) reads a v1alpha1 or v1beta1 Workspace. Type mismatches are
// invalid_argument naming the field path ("resource.count: expected an integer, got string");
// an apiVersion other than kaito.sh/v1alpha1|v1beta1 or a kind other than Workspace is an error.
// Unknown keys (including v1beta1-only fields in a v1alpha1 object) are kept in the structs'
// `extra` and listed in `warnings` as `unknown field "tuning.foo"`, like kubectl's strict decoding.
// encode_workspace(decode_workspace(j)) == j for every object j that decodes (null values are
// dropped, as the API server prunes them).
//
// apply_defaults sets what the CRD's +kubebuilder:default markers set: resource.count = 1,
// preset.accessMode = public, and for v1alpha1 resource.instanceType = Standard_NC24ads_A100_v4.
//
// Conversion (v1beta1 is the hub/storage version): convert_to_v1beta1 and convert_to_v1alpha1.
// The schemas agree except for the v1beta1-only fields listed in workspace_types.h; converting
// v1beta1 -> v1alpha1 moves those into the annotation kaito.sh/v1beta1-fields (a JSON object with
// the same shape as the Workspace, e.g. {"resource":{"partition":{...}}}), and v1alpha1 -> v1beta1
// moves them back and removes the annotation, the way Kubernetes conversion webhooks keep
// unrepresentable fields. So alpha -> beta -> alpha and beta -> alpha -> beta are identities.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "protocol/api/workspace_types.h"

namespace kaito::api {

struct decoded_workspace {
  workspace ws;
  std::vector<std::string> warnings;  // unknown field "..." lines, in document order
};

result<decoded_workspace> decode_workspace(const json& j);
json encode_workspace(const workspace& ws);

// The JSON of one preset (inference.preset / tuning.preset), for equality checks.
json encode_preset_spec(const preset_spec& p);

void apply_defaults(workspace& ws);

result<workspace> convert_to_v1beta1(const workspace& ws);
result<workspace> convert_to_v1alpha1(const workspace& ws);
// Converts to `api_version` (either version); identity when already there.
result<workspace> convert_to(const workspace& ws, const std::string& api_version);

}  // namespace kaito::api
