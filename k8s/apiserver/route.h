// Request targets: percent-decoding, query strings, and the Kubernetes URL layout
//   /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
//   /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUB]]
// plus discovery (/api, /apis, /apis/G, /api/v1, /apis/G/V), /version, health probes and OpenAPI.
// `/api/v1/namespaces/X` is the namespace X itself, and `/api/v1/namespaces/X/status|finalize` its
// subresources. The proxy subresource alone takes more segments, kept verbatim in `proxy_path`:
//   .../RESOURCE/NAME/proxy            proxy_path ""
//   .../RESOURCE/NAME/proxy/           proxy_path "/"
//   .../RESOURCE/NAME/proxy/v1/x/      proxy_path "/v1/x/" (empty segments and trailing '/' kept)
// Any other path with segments past SUB is kind::unknown.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s::apiserver {

struct route {
  enum class kind {
    version,
    health,
    core_discovery,    // /api
    groups_discovery,  // /apis
    group,             // /apis/G
    resource_list,     // /api/v1, /apis/G/V
    openapi_index,     // /openapi/v3
    openapi_doc,       // /openapi/v3/api/v1, /openapi/v3/apis/G/V
    openapi_v2,
    object,  // anything with a resource
    unknown,
  } k = kind::unknown;
  std::string group, version, ns, resource, name, subresource;
  std::string proxy_path;  // subresource "proxy": the decoded rest of the path, see above
};

route parse_route(const std::string& path);

// Splits "path?query" and percent-decodes both (query '+' is a space). Malformed escapes or
// targets that do not start with '/' are invalid_argument.
status parse_target(std::string_view target, std::string& path,
                    std::map<std::string, std::string>& query);

}  // namespace kaito::k8s::apiserver
