// parquet_fuzz: the Parquet reader (footer, page headers, codecs, levels, encodings, record
// assembly) and the chat and SFT records (engine/sft_dataset.h) on top, on arbitrary bytes, with
// small limits so that a crafted size cannot make an iteration allocate gigabytes. Must never crash
// or hang: bad files end in a status naming the byte offset and column.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/chat_dataset.h"
#include "engine/parquet_rows.h"
#include "engine/sft_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  kaito::engine::parquet_read_limits limits;
  limits.max_page_bytes = 4 << 20;
  limits.max_entries = 1 << 18;
  limits.max_value_bytes = 16 << 20;
  auto rows = kaito::engine::parquet_read_rows(bytes, {}, limits);
  if (rows.ok())
    for (const auto& r : rows.value())
      (void)r.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  (void)kaito::engine::parse_chat_parquet(bytes, limits);
  (void)kaito::engine::parse_sft_parquet(bytes, {}, limits);
  return 0;
}
