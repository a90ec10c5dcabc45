// Fuzz target for the preset, SKU and tuning-template YAML loaders: any input must give a value or
// an error status, never a crash, an exception or a hang. Inputs over 64 KiB are skipped (yaml-cpp
// is recursive; the loaders only ever see small files).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "presets/preset.h"
#include "presets/preset_catalog.h"
#include "presets/quantity.h"
#include "presets/sku_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = kaito::presets::parse_preset(text, "fuzz.yaml");
  if (p.ok() && p->name.empty()) __builtin_trap();  // a parsed preset always has a name
  (void)kaito::presets::parse_sku_file(text, "fuzz.yaml");
  (void)kaito::presets::parse_tuning_template(text, "fuzz.yaml", "qlora-params-template");
  if (size <= 64) (void)kaito::presets::parse_quantity(text);
  return 0;
}
