// Discovery documents, in both formats kubectl 1.32 and python3-kubernetes use:
//   aggregated (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) for /api and /apis when the Accept
//   header asks for it, else the legacy APIVersions / APIGroupList and per-group-version
//   APIResourceList (/api/v1, /apis/<group>/<version>).
#pragma once

#include <string>

#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/resources.h"

namespace kaito::k8s::apiserver {

inline constexpr const char* kAggregatedDiscoveryType =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// True when `accept` lists the v2 aggregated discovery media type.
bool wants_aggregated(const std::string& accept);

api_response discovery_core(const registry& reg, const std::string& accept,
                            const std::string& host);
api_response discovery_groups(const registry& reg, const std::string& accept);
// /api/v1 (group "") or /apis/<group>/<version>; 404 when nothing is served there.
api_response discovery_resources(const registry& reg, const std::string& group,
                                 const std::string& version);
json version_info();

}  // namespace kaito::k8s::apiserver
