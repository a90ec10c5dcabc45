// libFuzzer target: read_layer_files on any bytes (a pulled adapter layer is untrusted). Any input
// gives files or data_loss / resource_exhausted, never a crash or a hang, and the files never add
// up to more than the limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/artifacts/adapter_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  constexpr uint64_t limit = 4 << 20;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto files = kaito::k8s::artifacts::read_layer_files(bytes, limit);
  if (files.ok()) {
    uint64_t total = 0;
    for (const auto& [path, contents] : *files) {
      if (path.empty() || path[0] == '/') __builtin_trap();
      total += contents.size();
    }
    if (total > limit) __builtin_trap();
  } else if (files.error().code() != kaito::status_code::data_loss &&
             files.error().code() != kaito::status_code::resource_exhausted) {
    __builtin_trap();
  }
  return 0;
}
