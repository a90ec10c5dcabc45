// parquet_column: one column chunk of a Parquet file decoded into its levels and values
// (parquet-format's Encodings.md and README), for engine/parquet_rows.h to assemble into rows.
//
// Files: parquet_column.cpp (pages, levels, values), parquet_codec.cpp (the codecs),
// parquet_encodings.cpp (the RLE / bit-packed hybrid, DELTA_BINARY_PACKED).
// Pages: an optional dictionary page, then data pages v1 (levels inside the compressed body, each
// behind a 4-byte length) or v2 (levels uncompressed ahead of the values); index pages skipped.
// Codecs: UNCOMPRESSED, SNAPPY (libsnappy), GZIP (zlib), ZSTD (libzstd); others are refused by
// name. Levels: the RLE / bit-packed hybrid at bit width ceil(log2(max + 1)). Values: PLAIN,
// PLAIN_DICTIONARY / RLE_DICTIONARY, RLE (booleans), DELTA_BINARY_PACKED (ints),
// DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY (strings); others are refused by name. Value types:
// BOOLEAN -> bool, INT32 / INT64 -> integer, FLOAT / DOUBLE -> number, BYTE_ARRAY /
// FIXED_LEN_BYTE_ARRAY -> string when annotated STRING / ENUM / JSON (and then it must be valid
// UTF-8), else JSON binary; INT96 is refused. Limits (parquet_read_limits) bound what a small
// crafted file can make the reader allocate: a page's declared size, the level entries of a chunk,
// and the bytes of decoded values overall. Errors: invalid_argument naming the byte offset and the
// column ("byte N (column a.b.c)"). Thread-safety: pure functions over caller-owned bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engine/parquet_metadata.h"

namespace kaito::engine {

struct parquet_read_limits {
  int64_t max_page_bytes = int64_t{256} << 20;  // one page, decompressed
  int64_t max_entries = int64_t{16} << 20;      // level entries of a column chunk; rows of a file
  int64_t max_value_bytes = int64_t{1} << 30;   // decoded values, all columns together
};

struct parquet_column_data {
  std::vector<int16_t> def, rep;               // one per level entry; empty when the max is 0
  std::vector<nlohmann::ordered_json> values;  // the present (non-null) values, in order
  int64_t entries = 0;                         // level entries
};

// Leaf `leaf` of row group `row_group`. value_bytes is the running total that
// max_value_bytes bounds (shared across calls).
result<parquet_column_data> parquet_read_column(std::string_view file, const parquet_metadata& md,
                                                size_t row_group, size_t leaf,
                                                const parquet_read_limits& limits,
                                                int64_t* value_bytes);

// A page body of codec `codec` (parquet_codec) decoded to exactly `size` bytes (<= max_bytes),
// or invalid_argument saying why (parquet_codec.cpp). Exposed for tests.
result<std::string> parquet_decompress(int32_t codec, std::string_view src, int64_t size,
                                       int64_t max_bytes);

// The RLE / bit-packed hybrid (no length prefix): `count` values of `bit_width` bits (0..32).
// Returns the bytes consumed. Exposed for tests.
result<size_t> parquet_rle_decode(std::string_view in, int bit_width, int64_t count,
                                  std::vector<uint32_t>* out);

// DELTA_BINARY_PACKED: `count` values (count < 0: as many as the header says) as int64.
// Returns the bytes consumed. Exposed for tests.
result<size_t> parquet_delta_decode(std::string_view in, int64_t count, std::vector<int64_t>* out,
                                    int64_t max_count);

}  // namespace kaito::engine
