// libFuzzer target: the client's parsers of untrusted text. The first byte picks one: even, a
// kubeconfig (parse_kubeconfig; file references resolve under a directory that does not exist);
// odd, an API server error answer (status_from_response). Any input must give a config or an
// error status, never crash, abort or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "k8s/client/api_error.h"
#include "k8s/client/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto cfg = kaito::k8s::parse_kubeconfig(text, "/nonexistent-kaito-fuzz");
    if (cfg.ok() && cfg->server.empty()) __builtin_trap();  // a config always has a server
  } else {
    auto st = kaito::k8s::status_from_response(400 + data[0] % 200, text);
    if (st.ok()) __builtin_trap();  // an error answer is never ok
  }
  return 0;
}
