// OpenAPI v3 documents, enough for kubectl: `apply`/`create`/`replace` find a PATCH operation with
// an operation-level x-kubernetes-group-version-kind and a `fieldValidation` query parameter, so
// they leave validation to the server; `explain` walks components.schemas (from the CRD's schema
// for custom resources, an open object for built-ins). /openapi/v2 is deliberately not served
// (kubectl only accepts protobuf there and tolerates a 404).
#pragma once

#include <string>

#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/resources.h"

namespace kaito::k8s::apiserver {

// GET /openapi/v3: {"paths":{"apis/G/V":{"serverRelativeURL":"/openapi/v3/apis/G/V?hash=H"}}}.
api_response openapi_index(const registry& reg);
// GET /openapi/v3/api/v1 or /openapi/v3/apis/G/V (group "" = core); 404 when nothing is served.
api_response openapi_group_version(const registry& reg, const std::string& group,
                                   const std::string& version);

}  // namespace kaito::k8s::apiserver
