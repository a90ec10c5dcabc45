// Admission for kaito.sh Workspaces, run by the API server before every create and update:
// decode (type errors -> 422 naming the field), apply the CRD defaults (resource.count,
// preset.accessMode, ...) into the object that is stored, then Kaito's webhook rules
// (kaito::api::validate_create / validate_update) with ConfigMaps looked up in the server's own
// store. Violations come back as the one 422 Invalid Status kubectl prints as
// `The Workspace "x" is invalid: <field>: <message>`. Other resources pass through untouched.
#pragma once

#include <memory>

#include "k8s/apiserver/context.h"
#include "protocol/api/catalog.h"

namespace kaito::k8s::apiserver {

// The returned function holds `presets`; ConfigMaps are read from the store admission is called
// with.
admission_fn workspace_admission(std::shared_ptr<const api::catalog> presets);

}  // namespace kaito::k8s::apiserver
