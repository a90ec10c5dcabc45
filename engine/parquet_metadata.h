// parquet_metadata: the footer and page headers of an Apache Parquet file (the format Kaito's
// tuning datasets come in, e.g. philschmid/dolly-15k-oai-style), decoded from Thrift's compact
// protocol (engine/thrift_compact.h): parquet_metadata.cpp (the footer) and
// parquet_page_header.cpp. The column data itself: engine/parquet_column.h.
//
// File layout (parquet-format's README): "PAR1", column chunks (pages), FileMetaData (Thrift),
// its length (4 bytes little-endian), "PAR1". The schema is a depth-first list of SchemaElements
// whose groups give num_children; the leaves are the columns, in that order, and every row group
// holds one ColumnChunk per leaf (checked against path_in_schema). A leaf's max definition level
// counts the non-required nodes on its path, its max repetition level the repeated ones.
// Only what the reader uses is kept; unknown fields are skipped, as Thrift intends. Refused with
// invalid_argument naming the byte offset (or the schema element / row group / column): a
// missing magic, a footer length past the file, malformed Thrift, a schema whose num_children
// do not add up or nest deeper than 32, chunks outside the file, or a column chunk stored in
// another file (ColumnChunk.file_path).
// Thread-safety: pure functions over caller-owned bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kaito::engine {

// parquet-format's Type
enum class parquet_physical : int8_t {
  boolean = 0,
  int32 = 1,
  int64 = 2,
  int96 = 3,
  float32 = 4,
  float64 = 5,
  byte_array = 6,
  fixed_len_byte_array = 7,
  group = -1,  // not a parquet Type: a schema group
};

enum class parquet_repetition : int8_t { required = 0, optional = 1, repeated = 2 };

// parquet-format's CompressionCodec values the reader knows by name (others: by number)
enum parquet_codec : int32_t {
  parquet_uncompressed = 0,
  parquet_snappy = 1,
  parquet_gzip = 2,
  parquet_lzo = 3,
  parquet_brotli = 4,
  parquet_lz4 = 5,
  parquet_zstd = 6,
  parquet_lz4_raw = 7,
};

// parquet-format's Encoding
enum parquet_encoding : int32_t {
  parquet_plain = 0,
  parquet_plain_dictionary = 2,
  parquet_rle = 3,
  parquet_bit_packed = 4,
  parquet_delta_binary_packed = 5,
  parquet_delta_length_byte_array = 6,
  parquet_delta_byte_array = 7,
  parquet_rle_dictionary = 8,
  parquet_byte_stream_split = 9,
};

enum parquet_page_type : int32_t {
  parquet_data_page = 0,
  parquet_index_page = 1,
  parquet_dictionary_page = 2,
  parquet_data_page_v2 = 3,
};

struct parquet_schema_node {
  std::string name;
  parquet_physical physical = parquet_physical::group;
  parquet_repetition repetition = parquet_repetition::required;
  int32_t type_length = 0;      // FIXED_LEN_BYTE_ARRAY's
  int32_t converted_type = -1;  // ConvertedType: 0 UTF8, 1 MAP, 2 MAP_KEY_VALUE, 3 LIST, ...
  bool string = false;          // UTF8/ENUM/JSON converted type or STRING/ENUM/JSON logical type
  bool list = false;            // LIST converted or logical type
  bool map = false;             // MAP / MAP_KEY_VALUE converted or MAP logical type
  int parent = -1;              // index in parquet_metadata::schema; -1 for the root
  std::vector<int> children;
};

struct parquet_leaf {
  int node = -1;          // its schema index
  std::vector<int> path;  // schema indices from the top-level field down to the leaf
  std::string dotted;     // "messages.list.element.content"
  int16_t max_def = 0, max_rep = 0;
};

struct parquet_column_chunk {
  parquet_physical physical = parquet_physical::byte_array;
  int32_t codec = parquet_uncompressed;
  int64_t num_values = 0;  // level entries (values + nulls) in the chunk
  int64_t data_page_offset = -1;
  int64_t dictionary_page_offset = -1;  // -1 when absent
  int64_t total_compressed_size = 0;    // bytes of all its pages (headers included)
  // The first page's offset: the dictionary page's when there is one.
  int64_t start() const {
    return dictionary_page_offset >= 0 && dictionary_page_offset < data_page_offset
               ? dictionary_page_offset
               : data_page_offset;
  }
};

struct parquet_row_group {
  int64_t num_rows = 0;
  std::vector<parquet_column_chunk> columns;  // columns[i] holds leaves[i]
};

struct parquet_metadata {
  int64_t num_rows = 0;
  std::vector<parquet_schema_node> schema;  // [0] is the root
  std::vector<parquet_leaf> leaves;
  std::vector<parquet_row_group> row_groups;
  std::string created_by;
  // The top-level fields' names, in schema order.
  std::vector<std::string> columns() const;
};

result<parquet_metadata> parquet_read_metadata(std::string_view file);

struct parquet_page_header {
  int32_t type = -1;              // parquet_page_type
  int32_t uncompressed_size = 0;  // of the page body after decompression
  int32_t compressed_size = 0;    // of the page body in the file
  int32_t num_values = 0;         // level entries (data pages) or dictionary entries
  int32_t encoding = parquet_plain;
  int32_t def_encoding = parquet_rle, rep_encoding = parquet_rle;  // v1 data pages
  int32_t num_nulls = 0, num_rows = 0;                             // v2 data pages
  int32_t def_bytes = 0, rep_bytes = 0;  // v2: level bytes ahead of the (compressed) values
  bool v2_compressed = true;             // v2: whether the values section is compressed
  size_t header_bytes = 0;               // the Thrift header's own length
};

// The PageHeader at the start of `data` (`base`: its file offset, for errors).
result<parquet_page_header> parquet_read_page_header(std::string_view data, uint64_t base);

}  // namespace kaito::engine
