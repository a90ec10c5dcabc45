// libFuzzer target: PEFT adapter_config.json parsing. Must never crash, abort or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/peft_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c =
      kaito::engine::parse_peft_config(std::string_view(reinterpret_cast<const char*>(data), size));
  if (c.ok()) {
    // Exercise the pattern matching the config feeds (regex keys come from the file).
    kaito::engine::linear_slot slot{
        "model.layers.0.self_attn.o_proj", "o_proj", 0, kaito::engine::lora_site::o, 0, 8, 8};
    (void)kaito::engine::lora_targets(c.value(), slot);
    (void)kaito::engine::lora_rank_for(c.value(), slot.path);
    (void)kaito::engine::lora_alpha_for(c.value(), slot.path);
  }
  return 0;
}
