// libFuzzer target: json_prefix (constrained JSON generation). Must never crash, abort or hang,
// and where it calls an ASCII text one whole object, nlohmann's parser must agree (numbers past
// a double aside).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/json_prefix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kaito::engine::json_prefix p;
  size_t fed = 0;
  bool ascii = true;
  for (; fed < size && p.feed(data[fed]); ++fed) ascii = ascii && data[fed] < 0x80;
  if (fed == size && ascii && p.complete()) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
      if (!nlohmann::json::parse(text).is_object()) std::abort();
    } catch (const nlohmann::json::out_of_range&) {
      // a number past a double (5e335): JSON's grammar allows it, nlohmann's parser does not
    } catch (const nlohmann::json::exception&) {
      std::abort();
    }
  }
  return 0;
}
