// libFuzzer target: credentials_for on any text. The first byte picks the registry asked about;
// the rest is the config. Any input gives credentials or an invalid_argument naming the source,
// never a crash, an exception or a hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/artifacts/docker_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  static const char* registries[] = {"docker.io", "127.0.0.1:5000", "myacr.azurecr.io", "h.io"};
  std::string_view registry = registries[data[0] % 4];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto c = kaito::k8s::artifacts::credentials_for(text, registry, "config.json");
  if (!c.ok() && (c.error().code() != kaito::status_code::invalid_argument ||
                  c.error().where() != "config.json"))
    __builtin_trap();
  return 0;
}
