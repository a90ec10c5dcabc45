// SHA-256 digests; see encoding.h.
#include "k8s/artifacts/encoding.h"

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace kaito::k8s::artifacts {

std::string sha256_digest(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace kaito::k8s::artifacts
