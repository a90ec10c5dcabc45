// encoding: the byte encodings the registry protocol uses (private to k8s/artifacts).
//   sha256_digest(bytes)   "sha256:<64 lower-case hex>", an OCI content digest (libcrypto)
//   base64_encode/decode   RFC 4648 standard alphabet with '=' padding (Basic auth, docker config)
// base64_decode skips ASCII whitespace and returns invalid_argument naming `field` for anything
// else outside the alphabet, misplaced padding, or a truncated final group.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::k8s::artifacts {

std::string sha256_digest(std::string_view bytes);

std::string base64_encode(std::string_view bytes);
result<std::string> base64_decode(std::string_view text, std::string_view field);

}  // namespace kaito::k8s::artifacts
