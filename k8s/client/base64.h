// base64 (RFC 4648, standard alphabet, '=' padding) as Kubernetes uses it: Secret data,
// kubeconfig *-data fields, the auth entries of a .dockerconfigjson.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s {

std::string base64_encode(std::string_view bytes);

// Whitespace (\n \r space \t) is skipped, as in PEM-wrapped and kubectl-written values;
// invalid_argument naming `field` for anything else that is not base64.
result<std::string> base64_decode(std::string_view text, std::string_view field);

}  // namespace kaito::k8s
