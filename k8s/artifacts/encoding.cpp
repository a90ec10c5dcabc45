// SHA-256 digests; see encoding.h.
#include "k8s/artifacts/encoding.h"

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace kaito::k8s::artifacts {

namespace {

std::string digest_text(const unsigned char* md, unsigned int len) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::string sha256_digest(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return digest_text(md, len);
}

struct sha256_stream::state {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~state() { EVP_MD_CTX_free(ctx); }
};

sha256_stream::sha256_stream() : s_(std::make_unique<state>()) {
  EVP_DigestInit_ex(s_->ctx, EVP_sha256(), nullptr);
}
sha256_stream::~sha256_stream() = default;

void sha256_stream::update(std::string_view bytes) {
  EVP_DigestUpdate(s_->ctx, bytes.data(), bytes.size());
}

std::string sha256_stream::digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(s_->ctx, md, &len);
  return digest_text(md, len);
}

}  // namespace kaito::k8s::artifacts
