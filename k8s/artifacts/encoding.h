// encoding: the byte encodings the registry protocol uses (private to k8s/artifacts).
//   sha256_digest(bytes)   "sha256:<64 lower-case hex>", an OCI content digest (libcrypto)
//   base64 (Basic auth, docker config): k8s/client/base64.h, shared with the kubeconfig reader.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "k8s/client/base64.h"

namespace kaito::k8s::artifacts {

std::string sha256_digest(std::string_view bytes);

}  // namespace kaito::k8s::artifacts
