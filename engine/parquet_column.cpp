// Parquet column chunk decoding (see parquet_column.h): pages, levels and values. The codecs are
// in parquet_codec.cpp, the RLE/bit-packed hybrid and DELTA_BINARY_PACKED in
// parquet_encodings.cpp.
#include "engine/parquet_column.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/unicode.h"

namespace kaito::engine {

namespace {

int bit_width(int64_t max) {
  int w = 0;
  while ((int64_t{1} << w) <= max) ++w;
  return w;
}

const char* encoding_name(int32_t e) {
  static const char* names[] = {
      "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
      "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
      "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < 10 ? names[e] : "unknown";
}

// Decodes one chunk; `where(off)` names a file offset and the column.
struct chunk_reader {
  std::string_view file;
  const parquet_schema_node& node;
  const parquet_leaf& leaf;
  const parquet_column_chunk& cc;
  const parquet_read_limits& limits;
  int64_t* value_bytes;
  parquet_column_data out;
  std::vector<nlohmann::ordered_json> dict;
  bool have_dict = false;

  status err(uint64_t off, const std::string& msg) const {
    return invalid_argument(msg, "byte " + std::to_string(off) + " (column " + leaf.dotted + ")");
  }

  result<std::string> decompress(std::string_view src, int64_t size, uint64_t off) {
    auto r = parquet_decompress(cc.codec, src, size, limits.max_page_bytes);
    if (!r.ok()) return err(off, r.error().message());
    return r;
  }

  // count levels of max `max` from `in`; v1 pages put a 4-byte length first. Returns bytes used.
  result<size_t> levels(std::string_view in, int16_t max, int64_t count, bool length_prefixed,
                        std::vector<int16_t>* dst, uint64_t off) {
    std::string_view body = in;
    size_t used = 0;
    if (length_prefixed) {
      uint32_t n = 0;
      size_t q = 0;
      if (!take(in, q, &n)) return err(off, "truncated level length");
      if (n > in.size() - 4)
        return err(off, "level data of " + std::to_string(n) + " bytes runs past the page");
      body = in.substr(4, n);
      used = 4 + n;
    }
    std::vector<uint32_t> v;
    auto r = parquet_rle_decode(body, bit_width(max), count, &v);
    if (!r.ok()) return err(off, "levels: " + r.error().message());
    if (!length_prefixed) used = *r;
    for (uint32_t x : v) {
      if (x > uint32_t(max))
        return err(off,
                   "level " + std::to_string(x) + " above the column's max " + std::to_string(max));
      dst->push_back(int16_t(x));
    }
    return used;
  }

  status charge(int64_t bytes, uint64_t off) {
    *value_bytes += bytes + 16;
    if (*value_bytes > limits.max_value_bytes)
      return err(off, "decoded values exceed the reader's limit of " +
                          std::to_string(limits.max_value_bytes) + " bytes");
    return {};
  }

  // A BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY value: a string when the column is annotated as one (and
  // then it must be UTF-8, as pyarrow also requires), else JSON binary.
  status bytes_value(std::string_view v, std::vector<nlohmann::ordered_json>* dst, uint64_t off) {
    if (!node.string) {
      dst->push_back(nlohmann::ordered_json::binary(std::vector<uint8_t>(v.begin(), v.end())));
      return {};
    }
    if (!utf8_is_valid(v)) return err(off, "a STRING value that is not valid UTF-8");
    dst->emplace_back(std::string(v));
    return {};
  }

  // One little-endian T at in[p], advancing p; false when fewer than sizeof(T) bytes are left.
  template <class T>
  static bool take(std::string_view in, size_t& p, T* v) {
    if (in.size() - p < sizeof(T)) return false;
    std::memcpy(v, in.data() + p, sizeof(T));
    p += sizeof(T);
    return true;
  }

  // n PLAIN values of the column's type into dst.
  status plain(std::string_view in, int64_t n, std::vector<nlohmann::ordered_json>* dst,
               uint64_t off) {
    size_t p = 0;
    auto need = [&](size_t k) { return in.size() - p >= k; };
    auto fixed = [&](auto zero, const char* type) -> status {  // INT32, INT64, FLOAT, DOUBLE
      decltype(zero) v = zero;
      if (!take(in, p, &v)) return err(off, std::string("truncated ") + type + " values");
      dst->emplace_back(v);
      return {};
    };
    for (int64_t i = 0; i < n; ++i) {
      switch (cc.physical) {
        case parquet_physical::boolean:
          if (size_t(i / 8) >= in.size()) return err(off, "truncated BOOLEAN values");
          dst->emplace_back(((uint8_t(in[size_t(i / 8)]) >> (i % 8)) & 1) != 0);
          break;
        case parquet_physical::int32:
          KAITO_TRY(fixed(int32_t{}, "INT32"));
          break;
        case parquet_physical::int64:
          KAITO_TRY(fixed(int64_t{}, "INT64"));
          break;
        case parquet_physical::float32:
          KAITO_TRY(fixed(float{}, "FLOAT"));
          break;
        case parquet_physical::float64:
          KAITO_TRY(fixed(double{}, "DOUBLE"));
          break;
        case parquet_physical::byte_array: {
          uint32_t len = 0;
          if (!take(in, p, &len)) return err(off, "truncated BYTE_ARRAY length");
          if (!need(len))
            return err(off, "BYTE_ARRAY of " + std::to_string(len) + " bytes runs past the page");
          KAITO_TRY(charge(len, off));
          KAITO_TRY(bytes_value(in.substr(p, len), dst, off));
          p += len;
          break;
        }
        case parquet_physical::fixed_len_byte_array: {
          const size_t len = size_t(node.type_length);
          if (len == 0 || !need(len)) return err(off, "truncated FIXED_LEN_BYTE_ARRAY values");
          KAITO_TRY(charge(int64_t(len), off));
          KAITO_TRY(bytes_value(in.substr(p, len), dst, off));
          p += len;
          break;
        }
        default:
          return err(off, "INT96 values are not supported");
      }
      if (cc.physical != parquet_physical::byte_array &&
          cc.physical != parquet_physical::fixed_len_byte_array)
        KAITO_TRY(charge(0, off));
    }
    return {};
  }

  status values(std::string_view in, int32_t encoding, int64_t n, uint64_t off) {
    switch (encoding) {
      case parquet_plain:
        return plain(in, n, &out.values, off);
      case parquet_plain_dictionary:
      case parquet_rle_dictionary: {
        if (!have_dict) return err(off, "dictionary-encoded page without a dictionary page");
        if (n == 0) return {};
        if (in.empty()) return err(off, "truncated dictionary indices");
        const int w = uint8_t(in[0]);
        if (w > 32) return err(off, "dictionary index bit width " + std::to_string(w));
        std::vector<uint32_t> idx;
        auto r = parquet_rle_decode(in.substr(1), w, n, &idx);
        if (!r.ok()) return err(off, "dictionary indices: " + r.error().message());
        for (uint32_t i : idx) {
          if (i >= dict.size())
            return err(off, "dictionary index " + std::to_string(i) + " past its " +
                                std::to_string(dict.size()) + " entries");
          const nlohmann::ordered_json& v = dict[i];
          KAITO_TRY(charge(v.is_string()   ? int64_t(v.get_ref<const std::string&>().size())
                           : v.is_binary() ? int64_t(v.get_binary().size())
                                           : 0,
                           off));
          out.values.push_back(v);
        }
        return {};
      }
      case parquet_rle: {  // booleans (v2 pages): a 4-byte length, then the hybrid at width 1
        if (cc.physical != parquet_physical::boolean)
          return err(off, "RLE values on a column that is not BOOLEAN");
        std::vector<int16_t> bits;
        KAITO_TRY(levels(in, 1, n, true, &bits, off));
        for (int16_t b : bits) {
          KAITO_TRY(charge(0, off));
          out.values.emplace_back(b != 0);
        }
        return {};
      }
      case parquet_delta_binary_packed:
      case parquet_delta_length_byte_array:
      case parquet_delta_byte_array:
        return delta_values(in, encoding, n, off);
      default:
        return err(off, std::string("value encoding ") + encoding_name(encoding) + " (" +
                            std::to_string(encoding) + ") is not supported");
    }
  }

  // DELTA_BINARY_PACKED ints; DELTA_LENGTH_BYTE_ARRAY (lengths, then the bytes) and
  // DELTA_BYTE_ARRAY (prefix lengths, then the suffixes as DELTA_LENGTH_BYTE_ARRAY) strings.
  status delta_values(std::string_view in, int32_t encoding, int64_t n, uint64_t off) {
    const bool ints =
        cc.physical == parquet_physical::int32 || cc.physical == parquet_physical::int64;
    const bool bytes = cc.physical == parquet_physical::byte_array;
    if ((encoding == parquet_delta_binary_packed && !ints) ||
        (encoding != parquet_delta_binary_packed && !bytes))
      return err(off, std::string(encoding_name(encoding)) + " on a column of another type");
    if (n == 0) return {};  // an all-null page: nothing to decode, header or not
    std::vector<int64_t> a;
    auto r = parquet_delta_decode(in, n, &a, limits.max_entries);
    if (!r.ok()) return err(off, std::string(encoding_name(encoding)) + ": " + r.error().message());
    if (encoding == parquet_delta_binary_packed) {
      for (int64_t v : a) {
        KAITO_TRY(charge(0, off));
        if (cc.physical == parquet_physical::int32)
          out.values.emplace_back(int32_t(v));
        else
          out.values.emplace_back(v);
      }
      return {};
    }
    std::vector<int64_t> prefix, len;
    size_t p = *r;
    if (encoding == parquet_delta_byte_array) {
      prefix = std::move(a);
      auto rl = parquet_delta_decode(in.substr(p), n, &len, limits.max_entries);
      if (!rl.ok()) return err(off, "DELTA_BYTE_ARRAY suffix lengths: " + rl.error().message());
      p += *rl;
    } else {
      len = std::move(a);
    }
    std::string prev;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t l = len[size_t(i)];
      const int64_t pre = prefix.empty() ? 0 : prefix[size_t(i)];
      if (l < 0 || uint64_t(l) > in.size() - p)
        return err(off, "string " + std::to_string(i) + " of " + std::to_string(l) +
                            " bytes runs past the page");
      if (pre < 0 || uint64_t(pre) > prev.size())
        return err(off, "prefix length " + std::to_string(pre) + " of string " + std::to_string(i) +
                            " exceeds the previous string");
      std::string v = prev.substr(0, size_t(pre));
      v.append(in.substr(p, size_t(l)));
      p += size_t(l);
      KAITO_TRY(charge(int64_t(v.size()), off));
      KAITO_TRY(bytes_value(v, &out.values, off));
      prev = std::move(v);
    }
    return {};
  }

  status page(const parquet_page_header& h, std::string_view body, uint64_t off) {
    if (h.type == parquet_index_page) return {};
    if (h.type == parquet_dictionary_page) {
      if (have_dict) return err(off, "a second dictionary page");
      if (h.encoding != parquet_plain && h.encoding != parquet_plain_dictionary)
        return err(off, "dictionary page encoding " + std::string(encoding_name(h.encoding)));
      if (h.num_values < 0 || h.num_values > limits.max_entries)
        return err(off, "dictionary of " + std::to_string(h.num_values) + " entries");
      KAITO_ASSIGN_OR_RETURN(std::string raw, decompress(body, h.uncompressed_size, off));
      KAITO_TRY(plain(raw, h.num_values, &dict, off));
      have_dict = true;
      return {};
    }
    const int64_t n = h.num_values;
    if (n < 0 || out.entries + n > limits.max_entries || out.entries + n > cc.num_values)
      return err(off, "data page of " + std::to_string(n) + " values: more than the chunk's " +
                          std::to_string(cc.num_values) + " (or the reader's limit)");
    std::string raw;
    std::string_view vals;
    size_t used = 0;
    if (h.type == parquet_data_page) {
      KAITO_ASSIGN_OR_RETURN(raw, decompress(body, h.uncompressed_size, off));
      std::string_view p = raw;
      if (leaf.max_rep > 0) {
        if (h.rep_encoding != parquet_rle) return err(off, "repetition levels not RLE-encoded");
        KAITO_ASSIGN_OR_RETURN(size_t u, levels(p, leaf.max_rep, n, true, &out.rep, off));
        used += u;
      }
      if (leaf.max_def > 0) {
        if (h.def_encoding != parquet_rle) return err(off, "definition levels not RLE-encoded");
        KAITO_ASSIGN_OR_RETURN(size_t u,
                               levels(p.substr(used), leaf.max_def, n, true, &out.def, off));
        used += u;
      }
      vals = p.substr(used);
    } else {  // v2: levels uncompressed, then the (maybe compressed) values
      if (h.rep_bytes < 0 || h.def_bytes < 0 ||
          int64_t(h.rep_bytes) + h.def_bytes > int64_t(body.size()))
        return err(off, "v2 level lengths exceed the page");
      if (leaf.max_rep > 0)
        KAITO_TRY(
            levels(body.substr(0, size_t(h.rep_bytes)), leaf.max_rep, n, false, &out.rep, off));
      if (leaf.max_def > 0)
        KAITO_TRY(levels(body.substr(size_t(h.rep_bytes), size_t(h.def_bytes)), leaf.max_def, n,
                         false, &out.def, off));
      const size_t lv = size_t(h.rep_bytes) + size_t(h.def_bytes);
      const int64_t vsize = int64_t(h.uncompressed_size) - int64_t(lv);
      if (vsize < 0) return err(off, "v2 page smaller than its levels");
      if (h.v2_compressed && cc.codec != parquet_uncompressed) {
        KAITO_ASSIGN_OR_RETURN(raw, decompress(body.substr(lv), vsize, off));
        vals = raw;
      } else {
        vals = body.substr(lv);
      }
    }
    int64_t present = n;
    if (leaf.max_def > 0) {
      present = 0;
      for (int64_t i = out.entries; i < out.entries + n; ++i)
        present += out.def[size_t(i)] == leaf.max_def;
    }
    out.entries += n;
    return values(vals, h.encoding, present, off);
  }

  status run() {
    uint64_t pos = uint64_t(cc.start());
    const uint64_t end = pos + uint64_t(cc.total_compressed_size);
    while (out.entries < cc.num_values) {
      if (pos >= end)
        return err(pos, "the chunk's pages end after " + std::to_string(out.entries) + " of " +
                            std::to_string(cc.num_values) + " values");
      KAITO_ASSIGN_OR_RETURN(
          parquet_page_header h,
          parquet_read_page_header(file.substr(size_t(pos), size_t(end - pos)), pos));
      const uint64_t body = pos + h.header_bytes;
      if (h.compressed_size < 0 || uint64_t(h.compressed_size) > end - body)
        return err(pos,
                   "page of " + std::to_string(h.compressed_size) + " bytes runs past its chunk");
      KAITO_TRY(page(h, file.substr(size_t(body), size_t(h.compressed_size)), pos));
      pos = body + uint64_t(h.compressed_size);
    }
    return {};
  }
};

}  // namespace

result<parquet_column_data> parquet_read_column(std::string_view file, const parquet_metadata& md,
                                                size_t row_group, size_t leaf,
                                                const parquet_read_limits& limits,
                                                int64_t* value_bytes) {
  if (row_group >= md.row_groups.size() || leaf >= md.leaves.size())
    return invalid_argument("no such row group or column", "parquet_read_column");
  const parquet_leaf& lf = md.leaves[leaf];
  const parquet_column_chunk& cc = md.row_groups[row_group].columns[leaf];
  if (cc.num_values < 0 || cc.num_values > limits.max_entries)
    return invalid_argument("column chunk of " + std::to_string(cc.num_values) +
                                " values exceeds the reader's limit of " +
                                std::to_string(limits.max_entries),
                            "column " + lf.dotted);
  chunk_reader r{file, md.schema[size_t(lf.node)], lf, cc, limits, value_bytes, {}, {}, false};
  KAITO_TRY(r.run());
  return std::move(r.out);
}

}  // namespace kaito::engine
