// libFuzzer target: parse_manifest and pick_platform on any bytes, as a registry's GET
// /v2/<repo>/manifests answer. A parse gives a manifest or an invalid_argument whose message
// starts with "manifest: ", never a crash; a parsed index has a platform per entry and at least
// one entry, and every entry has a digest.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k8s/artifacts/oci_pull.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view ct : {"", "application/vnd.oci.image.index.v1+json; charset=utf-8"}) {
    auto m = kaito::k8s::artifacts::parse_manifest(body, ct);
    if (!m.ok()) {
      if (m.error().message().rfind("manifest: ", 0) != 0) __builtin_trap();
      continue;
    }
    for (const auto& e : m->entries)
      if (e.digest.empty() || e.size < -1) __builtin_trap();
    if (m->index) {
      if (m->entries.empty() || m->platforms.size() != m->entries.size()) __builtin_trap();
      auto d = kaito::k8s::artifacts::pick_platform(*m);
      if (d.ok() && d->digest.empty()) __builtin_trap();
    }
  }
  return 0;
}
