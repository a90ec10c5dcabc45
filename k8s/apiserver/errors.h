// Kubernetes `Status` error objects (kind: Status) as the real API server words them, so kubectl
// prints `Error from server (<Reason>): <message>`. NotFound/AlreadyExists/Conflict carry the
// plural resource in details.kind; Invalid carries the Kind and details.causes.
#pragma once

#include <string>

#include "k8s/apiserver/api_types.h"

namespace kaito::k8s::apiserver {

// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}.
json status_object(int code, const std::string& reason, const std::string& message,
                   json details = nullptr);
api_response error_response(int code, const std::string& reason, const std::string& message,
                            json details = nullptr);

// `group_resource` is "workspaces.kaito.sh" or "pods"; details carry group and plural kind.
api_response not_found_error(const std::string& group, const std::string& resource,
                             const std::string& name);
api_response already_exists_error(const std::string& group, const std::string& resource,
                                  const std::string& name);
api_response conflict_error(const std::string& group, const std::string& resource,
                            const std::string& name);
api_response bad_request(const std::string& message);
api_response unsupported_media(const std::string& accepted);
api_response path_not_found();  // "the server could not find the requested resource"
api_response method_not_allowed();
// 422 Invalid: `The <Kind> "<name>" is invalid: <field>: <message>`.
api_response invalid_error(const std::string& group, const std::string& kind,
                           const std::string& name, const std::string& field,
                           const std::string& cause_reason, const std::string& message);
api_response success_status(const std::string& group, const std::string& resource,
                            const std::string& name, const std::string& uid);

std::string group_resource(const std::string& group, const std::string& resource);

}  // namespace kaito::k8s::apiserver
