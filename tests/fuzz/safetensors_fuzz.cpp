// libFuzzer target: safetensors header validation and the byte conversions of every tensor it
// accepts. Must never crash, abort or hang; malformed input returns a status.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/nf4_checkpoint.h"
#include "engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kaito::engine;
  std::span<const uint8_t> file(data, size);
  auto h = parse_safetensors(file);
  if (!h.ok()) return 0;
  for (const auto& t : h->tensors) {
    auto bytes = file.subspan(h->data_start + t.begin, t.nbytes());
    if (t.numel() > (1 << 20)) continue;
    auto f = st_to_f32(t, bytes);
    if (!f.ok()) (void)st_to_i64(t, bytes);
  }
  // bitsandbytes 4-bit states (JSON blob + tensors), read as a (2, 64) linear.
  const std::string suffix = ".weight.quant_state.bitsandbytes__nf4";
  st_lookup get = [&](const std::string& name) -> kaito::result<st_view> {
    for (const auto& t : h->tensors)
      if (t.name == name) return st_view{&t, file.subspan(h->data_start + t.begin, t.nbytes())};
    return kaito::not_found("missing", name);
  };
  for (const auto& t : h->tensors) {
    if (t.name.size() > suffix.size() &&
        t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string module = t.name.substr(0, t.name.size() - suffix.size());
      auto q = read_bnb_nf4(get, module, 2, 64);
      if (q.ok()) {
        std::vector<float> out(128);
        (void)kaito::nf4_dequantize_weight(q.value(), out.data());
      }
    }
  }
  return 0;
}
