// Parquet page headers (see parquet_metadata.h): PageHeader and its data page (v1, v2) and
// dictionary page headers, as parquet-format's parquet.thrift numbers their fields.
#include <cstdint>
#include <string_view>

#include "engine/parquet_metadata.h"
#include "engine/thrift_compact.h"

namespace kaito::engine {

result<parquet_page_header> parquet_read_page_header(std::string_view data, uint64_t base) {
  thrift_reader r(data, base);
  parquet_page_header h;
  bool have_sub = false;
  KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& f) -> result<bool> {
    switch (f.id) {
      case 1: {
        KAITO_ASSIGN_OR_RETURN(h.type, thrift_i32(r, f, "PageHeader.type", 0, 3));
        return true;
      }
      case 2: {
        KAITO_ASSIGN_OR_RETURN(h.uncompressed_size,
                               thrift_i32(r, f, "PageHeader.uncompressed_page_size"));
        return true;
      }
      case 3: {
        KAITO_ASSIGN_OR_RETURN(h.compressed_size,
                               thrift_i32(r, f, "PageHeader.compressed_page_size"));
        return true;
      }
      case 5:  // DataPageHeader
        KAITO_TRY(thrift_expect(r, f, thrift_type::structure, "PageHeader.data_page_header"));
        have_sub = true;
        KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& d) -> result<bool> {
          int32_t* dst[] = {nullptr, &h.num_values, &h.encoding, &h.def_encoding, &h.rep_encoding};
          if (d.id < 1 || d.id > 4) return false;
          KAITO_ASSIGN_OR_RETURN(*dst[d.id], thrift_i32(r, d, "DataPageHeader"));
          return true;
        }));
        return true;
      case 7:  // DictionaryPageHeader
        KAITO_TRY(thrift_expect(r, f, thrift_type::structure, "PageHeader.dictionary_page_header"));
        have_sub = true;
        KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& d) -> result<bool> {
          int32_t* dst[] = {nullptr, &h.num_values, &h.encoding};
          if (d.id < 1 || d.id > 2) return false;
          KAITO_ASSIGN_OR_RETURN(*dst[d.id], thrift_i32(r, d, "DictionaryPageHeader"));
          return true;
        }));
        return true;
      case 8:  // DataPageHeaderV2
        KAITO_TRY(thrift_expect(r, f, thrift_type::structure, "PageHeader.data_page_header_v2"));
        have_sub = true;
        KAITO_TRY(thrift_read_struct(r, [&](const thrift_field& d) -> result<bool> {
          if (d.id == 7) {
            KAITO_ASSIGN_OR_RETURN(h.v2_compressed, r.read_bool(d.type));
            return true;
          }
          int32_t* dst[] = {nullptr,     &h.num_values, &h.num_nulls, &h.num_rows,
                            &h.encoding, &h.def_bytes,  &h.rep_bytes};
          if (d.id < 1 || d.id > 6) return false;
          KAITO_ASSIGN_OR_RETURN(*dst[d.id], thrift_i32(r, d, "DataPageHeaderV2"));
          return true;
        }));
        return true;
      default:
        return false;
    }
  }));
  if (h.type < 0)
    return invalid_argument("page header without a type", "byte " + std::to_string(base));
  if (h.type != parquet_index_page && !have_sub)
    return invalid_argument("page header without its page-type header",
                            "byte " + std::to_string(base));
  h.header_bytes = r.pos();
  return h;
}

}  // namespace kaito::engine
