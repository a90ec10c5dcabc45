// encoding: the byte encodings the registry protocol uses (private to k8s/artifacts).
//   sha256_digest(bytes)   "sha256:<64 lower-case hex>", an OCI content digest (libcrypto)
//   sha256_stream          the same over bytes that arrive in pieces (a blob streamed to disk)
//   base64 (Basic auth, docker config): k8s/client/base64.h, shared with the kubeconfig reader.
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "k8s/client/base64.h"

namespace kaito::k8s::artifacts {

std::string sha256_digest(std::string_view bytes);

class sha256_stream {
 public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;
  void update(std::string_view bytes);
  // "sha256:<hex>" of everything updated so far; the stream is finished after this.
  std::string digest();

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace kaito::k8s::artifacts
