// Server-managed metadata, the same for every resource:
//   create: uid, creationTimestamp (RFC 3339, seconds), generation 1, namespace from the URL,
//           name from generateName (+5 random chars), status dropped when the resource has a status
//           subresource; client-sent uid/resourceVersion/deletionTimestamp are ignored.
//   update: uid, name, namespace, creationTimestamp, deletionTimestamp and generation come from the
//           live object; `status` too (main resource) or everything but `status` (/status);
//           generation moves by one when anything outside metadata and status changed; no new
//           finalizers once deletionTimestamp is set.
//   both:   the built-in registries' defaults (Secret type Opaque and stringData folded into data,
//           Service type ClusterIP, Namespace phase Active, Pod phase Pending).
// Errors are ready-to-send 422/400 responses.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/resources.h"

namespace kaito::k8s::apiserver {

std::string new_uid();
std::string now_rfc3339();

// Checks apiVersion/kind/namespace/name against the request; the 400/422 when they do not fit.
std::optional<api_response> check_identity(const resource_def& def, const std::string& version,
                                           const std::string& url_ns, const std::string& url_name,
                                           const json& obj);

// Fills server-managed fields of a new object (name from generateName when needed).
void prepare_create(const resource_def& def, const std::string& version, const std::string& ns,
                    json& obj);

// The object to store for an update of `live` with `incoming`; status_write: the /status endpoint.
result<json> prepare_update(const resource_def& def, const std::string& version, const json& live,
                            json incoming, bool status_write);

// A lowercase RFC 1123 subdomain (<= 253 chars)?
bool is_dns_subdomain(const std::string& s);

}  // namespace kaito::k8s::apiserver
