// libFuzzer target: json_schema (a schema from a request body) and schema_matcher. The input is
// a schema's text, a NUL byte, then a text to match. Must never crash, abort or hang; a schema
// is compiled or refused with a status; a matched text never reaches a dead end (some byte
// continues it, or it is whole); and where the matcher calls an ASCII text whole, nlohmann's
// parser reads it (numbers past a double aside).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/json_schema.h"
#include "engine/schema_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t schema_size = nul ? static_cast<size_t>(nul - data) : size;
  auto schema = kaito::engine::json_schema::parse(
      std::string_view(reinterpret_cast<const char*>(data), schema_size), "schema");
  if (!schema.ok()) {
    if (schema.error().message().empty()) std::abort();
    return 0;
  }
  kaito::engine::schema_matcher m(**schema);
  const uint8_t* text = nul ? nul + 1 : data + size;
  const size_t text_size = static_cast<size_t>(data + size - text);
  size_t fed = 0;
  bool ascii = true;
  for (; fed < text_size && fed < 256; ++fed) {
    if (!m.feed(text[fed])) break;
    ascii = ascii && text[fed] < 0x80;
    if (m.threads() > kaito::engine::schema_matcher::kMaxThreads) std::abort();
  }
  if (!m.complete()) {  // no dead end
    bool any = false;
    for (int c = 0; c < 256 && !any; ++c) {
      kaito::engine::schema_matcher t = m;
      any = t.feed(static_cast<unsigned char>(c));
    }
    if (!any) std::abort();
  } else if (ascii) {
    try {
      const auto value = nlohmann::json::parse(text, text + fed);
      (void)value;
    } catch (const nlohmann::json::out_of_range&) {
      // a number past a double
    } catch (const nlohmann::json::exception&) {
      std::abort();
    }
  }
  return 0;
}
