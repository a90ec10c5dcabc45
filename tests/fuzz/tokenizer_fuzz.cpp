// tokenizer_fuzz: tokenizer.json loading plus encode/decode/stream on arbitrary bytes. Input
// layout: the part before the first 0xFF byte is the tokenizer.json text, the rest is the text to
// encode (a whole-file JSON seed without 0xFF encodes a fixed sample). Must never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/tokenizer.h"
#include "engine/tokenizer_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find('\xFF');
  const std::string_view json = all.substr(0, cut);
  const std::string_view text = cut == std::string_view::npos
                                    ? std::string_view("Hello <s> wörld 🚀 123")
                                    : all.substr(cut + 1);
  auto tok = kaito::engine::tokenizer::from_json(json);
  if (!tok.ok()) return 0;
  for (bool specials : {true, false}) {
    auto ids = tok->encode(text, specials);
    if (!ids.ok()) continue;
    (void)tok->decode(*ids, true);
    (void)tok->decode(*ids, false);
    kaito::engine::tokenizer_decode_stream stream(*tok);
    for (int32_t id : *ids) (void)stream.step(id);
  }
  std::vector<int32_t> odd = {0, 1, -1, 2147483647, 3};
  (void)tok->decode(odd);
  return 0;
}
