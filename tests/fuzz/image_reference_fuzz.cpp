// libFuzzer target: parse_image_reference and registry_is_loopback on any text. A parse gives a
// reference or an invalid_argument naming the field, never a crash; a parsed reference's canonical
// form parses again to itself, and has a registry and a repository.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/artifacts/image_reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)kaito::k8s::artifacts::registry_is_loopback(text);
  auto r = kaito::k8s::artifacts::parse_image_reference(text, "tuning.output.image");
  if (!r.ok()) {
    if (r.error().where() != "tuning.output.image") __builtin_trap();
    return 0;
  }
  if (r->registry.empty() || r->repository.empty()) __builtin_trap();
  if (r->tag.empty() && r->digest.empty()) __builtin_trap();
  auto again = kaito::k8s::artifacts::parse_image_reference(r->str(), "x");
  if (!again.ok() || again->str() != r->str()) __builtin_trap();
  return 0;
}
