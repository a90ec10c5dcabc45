// libFuzzer target: HF config.json parsing. Must never crash, abort or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = kaito::engine::parse_model_config(
      std::string_view(reinterpret_cast<const char*>(data), size));
  (void)c.ok();
  return 0;
}
