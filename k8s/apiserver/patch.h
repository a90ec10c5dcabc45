// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), Kubernetes strategic merge
// patch (built-ins only: lists of containers, env, ports, volumes, conditions ... merge by their
// key;
// `$patch: replace|delete`, `$retainKeys`, `$deleteFromPrimitiveList/`, `$setElementOrder/`
// directives), and server-side apply (the applied configuration is merged into the live object as
// a strategic merge without deletions; field ownership, conflicts and the removal of fields a
// manager stops applying are managed_fields.h's).
//
// Every function returns the patched document or an invalid_argument status naming the problem;
// none throws.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

enum class patch_type { merge, json_patch, strategic, apply, unknown };

// From the request's Content-Type ("application/merge-patch+json; charset=utf-8" -> merge).
patch_type patch_type_of(const std::string& content_type);

result<json> apply_merge_patch(const json& target, const json& patch);
result<json> apply_json_patch(const json& target, const json& patch);
result<json> apply_strategic_merge_patch(const json& target, const json& patch);
result<json> apply_server_side(const json& live, const json& applied);

}  // namespace kaito::k8s::apiserver
