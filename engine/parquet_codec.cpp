// Parquet page codecs (see parquet_column.h): UNCOMPRESSED, SNAPPY (libsnappy), GZIP (zlib, gzip or
// zlib framing), ZSTD (libzstd). A page must decode to exactly its declared size.
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/parquet_column.h"

namespace kaito::engine {

namespace {

const char* codec_name(int32_t c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "unknown";
}

}  // namespace

result<std::string> parquet_decompress(int32_t codec, std::string_view src, int64_t size,
                                       int64_t max_bytes) {
  if (size < 0 || size > max_bytes)
    return invalid_argument("page of " + std::to_string(size) +
                            " bytes exceeds the reader's limit of " + std::to_string(max_bytes));
  std::string dst(size_t(size), '\0');
  switch (codec) {
    case parquet_uncompressed:
      if (int64_t(src.size()) != size)
        return invalid_argument("uncompressed page of " + std::to_string(src.size()) +
                                " bytes declares " + std::to_string(size));
      dst.assign(src);
      return dst;
    case parquet_snappy: {
      size_t n = 0;
      if (snappy_uncompressed_length(src.data(), src.size(), &n) != SNAPPY_OK || n != size_t(size))
        return invalid_argument("snappy page does not decode to its declared " +
                                std::to_string(size) + " bytes");
      if (snappy_uncompress(src.data(), src.size(), dst.data(), &n) != SNAPPY_OK)
        return invalid_argument("corrupt snappy data");
      return dst;
    }
    case parquet_gzip: {
      z_stream z{};
      if (inflateInit2(&z, 15 + 32) != Z_OK) return invalid_argument("zlib: inflateInit2 failed");
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src.data()));
      z.avail_in = uInt(src.size());
      z.next_out = reinterpret_cast<Bytef*>(dst.data());
      z.avail_out = uInt(dst.size());
      const int rc = inflate(&z, Z_FINISH);
      const size_t got = z.total_out;
      inflateEnd(&z);
      if (rc != Z_STREAM_END || got != size_t(size))
        return invalid_argument("gzip page does not decode to its declared " +
                                std::to_string(size) + " bytes");
      return dst;
    }
    case parquet_zstd: {
      const size_t n = ZSTD_decompress(dst.data(), dst.size(), src.data(), src.size());
      if (ZSTD_isError(n) || n != size_t(size))
        return invalid_argument(std::string("zstd page does not decode to its declared size") +
                                (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n) : ""));
      return dst;
    }
    default:
      return invalid_argument(std::string("compression codec ") + codec_name(codec) + " (" +
                              std::to_string(codec) + ") is not supported");
  }
}

}  // namespace kaito::engine
