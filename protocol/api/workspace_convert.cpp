// apply_defaults and v1alpha1 <-> v1beta1 conversion (contract in protocol/api/workspace.h).
//
// Conversion works on the JSON form: encode, move fields, set apiVersion, decode as the target
// version. Decoding with the target version's field set means a key that was unknown in one
// version and known in the other lands in the right place.
#include "protocol/api/workspace.h"

namespace kaito::api {

void apply_defaults(workspace& ws) {
  if (ws.resource) {
    if (!ws.resource->count) ws.resource->count = 1;
    if (ws.is_v1alpha1() && !ws.resource->instance_type)
      ws.resource->instance_type = "Standard_NC24ads_A100_v4";
  }
  if (ws.inference && ws.inference->preset && !ws.inference->preset->access_mode)
    ws.inference->preset->access_mode = "public";
  if (ws.tuning && ws.tuning->preset && !ws.tuning->preset->access_mode)
    ws.tuning->preset->access_mode = "public";
}

namespace {

// (object path, key) pairs that only v1beta1 defines.
struct beta_field {
  std::vector<const char*> parent;
  const char* key;
};
const std::vector<beta_field>& beta_only_fields() {
  static const std::vector<beta_field> k = {
      {{"resource"}, "partition"},
      {{"inference", "preset", "presetOptions"}, "modelAccessSecret"},
      {{"inference", "preset", "presetOptions"}, "modelWeightsPVC"},
      {{"inference", "preset", "presetOptions"}, "modelWeightsSubPath"},
      {{"tuning", "preset", "presetOptions"}, "modelAccessSecret"},
      {{"tuning", "preset", "presetOptions"}, "modelWeightsPVC"},
      {{"tuning", "preset", "presetOptions"}, "modelWeightsSubPath"},
      {{"status"}, "state"},
      {{"status"}, "targetNodeCount"},
      {{"status"}, "performance"},
  };
  return k;
}

// JSON merge of `patch` into `target` (objects recursively, anything else replaced).
void deep_merge(json& target, const json& patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (target.contains(it.key()))
      deep_merge(target[it.key()], it.value());
    else
      target[it.key()] = it.value();
  }
}

result<workspace> decode_as(json j, const char* version) {
  j["apiVersion"] = version;
  KAITO_ASSIGN_OR_RETURN(decoded_workspace d, decode_workspace(j));
  return std::move(d.ws);
}

}  // namespace

result<workspace> convert_to_v1beta1(const workspace& ws) {
  if (ws.api_version == kV1beta1) return ws;
  json j = encode_workspace(ws);
  auto* anns = j.contains("metadata") && j["metadata"].contains("annotations")
                   ? &j["metadata"]["annotations"]
                   : nullptr;
  if (anns && anns->is_object() && anns->contains(annotations::kV1beta1Fields) &&
      (*anns)[annotations::kV1beta1Fields].is_string()) {
    json moved = json::parse((*anns)[annotations::kV1beta1Fields].get<std::string>(), nullptr,
                             /*allow_exceptions=*/false);
    if (moved.is_object()) {
      anns->erase(annotations::kV1beta1Fields);
      if (anns->empty()) j["metadata"].erase("annotations");
      deep_merge(j, moved);
    }
  }
  return decode_as(std::move(j), kV1beta1);
}

result<workspace> convert_to_v1alpha1(const workspace& ws) {
  if (ws.api_version == kV1alpha1) return ws;
  json j = encode_workspace(ws);
  json moved = json::object();
  for (const auto& f : beta_only_fields()) {
    json* node = &j;
    json* out = &moved;
    bool found = true;
    for (const char* p : f.parent) {
      if (!node->is_object() || !node->contains(p)) {
        found = false;
        break;
      }
      node = &(*node)[p];
    }
    if (!found || !node->is_object() || !node->contains(f.key)) continue;
    for (const char* p : f.parent) out = &(*out)[p];
    (*out)[f.key] = (*node)[f.key];
    node->erase(f.key);
  }
  if (!moved.empty()) j["metadata"]["annotations"][annotations::kV1beta1Fields] = moved.dump();
  return decode_as(std::move(j), kV1alpha1);
}

result<workspace> convert_to(const workspace& ws, const std::string& api_version) {
  if (api_version == kV1beta1) return convert_to_v1beta1(ws);
  if (api_version == kV1alpha1) return convert_to_v1alpha1(ws);
  return invalid_argument("no kind \"Workspace\" is registered for version \"" + api_version + "\"",
                          "apiVersion");
}

}  // namespace kaito::api
