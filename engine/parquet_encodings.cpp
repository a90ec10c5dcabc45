// Parquet's bit-level encodings (parquet-format's Encodings.md): the RLE / bit-packed hybrid
// (levels, dictionary indices, booleans) and DELTA_BINARY_PACKED, the integer half of the delta
// encodings; parquet_column.cpp builds the two string ones on it.
// RLE / bit-packed hybrid: runs until `count` values; a ULEB128 header whose low bit picks
//   bit-packed ((header >> 1) groups of 8 values, LSB first) or RLE ((header >> 1) copies of one
//   value in ceil(bit_width / 8) little-endian bytes).
// DELTA_BINARY_PACKED:
//   header: <block size> <miniblocks per block> <total values> <first value (zigzag)>, ULEB128
//   block:  <min delta (zigzag)> <one bit-width byte per miniblock> <miniblocks, bit-packed LSB
//           first, block size / miniblocks values each>; the last block carries bodies only for
//           the miniblocks that hold values (their width bytes are all present).
//   value[i] = value[i-1] + min delta + packed[i], with two's-complement wrap-around.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parquet_column.h"

namespace kaito::engine {

namespace {

struct cursor {
  std::string_view in;
  size_t p = 0;

  result<uint64_t> uleb() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= in.size()) return invalid_argument("truncated varint at byte " + std::to_string(p));
      const uint8_t b = uint8_t(in[p++]);
      v |= uint64_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return invalid_argument("varint too long at byte " + std::to_string(p));
  }
  result<int64_t> zigzag() {
    KAITO_ASSIGN_OR_RETURN(uint64_t v, uleb());
    return int64_t(v >> 1) ^ -int64_t(v & 1);
  }
};

// Value i of `w` bits packed LSB first from the start of `bits` (the caller checked the bytes).
uint64_t unpack(std::string_view bits, uint64_t i, int w) {
  uint64_t v = 0;
  const uint64_t bit0 = i * uint64_t(w);
  for (int b = 0; b < w; ++b) {
    const uint64_t bit = bit0 + uint64_t(b);
    v |= uint64_t((uint8_t(bits[size_t(bit / 8)]) >> (bit % 8)) & 1) << b;
  }
  return v;
}

}  // namespace

result<size_t> parquet_rle_decode(std::string_view in, int bit_width, int64_t count,
                                  std::vector<uint32_t>* out) {
  if (bit_width < 0 || bit_width > 32)
    return invalid_argument("bit width " + std::to_string(bit_width));
  cursor c{in};
  size_t& p = c.p;
  int64_t got = 0;
  const size_t vbytes = size_t((bit_width + 7) / 8);
  while (got < count) {
    const size_t at = p;
    KAITO_ASSIGN_OR_RETURN(uint64_t header, c.uleb());
    if (header >> 42 != 0)  // at most 6 bytes: groups * bit_width below cannot overflow
      return invalid_argument("run header too long at byte " + std::to_string(at));
    if (header & 1) {  // bit-packed: (header >> 1) groups of 8 values, LSB first
      const uint64_t groups = header >> 1;
      if (groups == 0) return invalid_argument("empty bit-packed run");
      const uint64_t nbytes = groups * uint64_t(bit_width);
      if (nbytes > in.size() - p) {
        return invalid_argument("bit-packed run of " + std::to_string(groups * 8) +
                                " values runs past the data");
      }
      const int64_t take = std::min<int64_t>(int64_t(groups * 8), count - got);
      for (int64_t i = 0; i < take; ++i)
        out->push_back(uint32_t(unpack(in.substr(p), uint64_t(i), bit_width)));
      got += take;
      p += size_t(nbytes);
    } else {  // RLE: (header >> 1) copies of one value in ceil(bit_width / 8) bytes
      const uint64_t run = header >> 1;
      if (run == 0) return invalid_argument("empty RLE run");
      if (vbytes > in.size() - p) return invalid_argument("truncated RLE value");
      uint32_t v = 0;
      for (size_t b = 0; b < vbytes; ++b) v |= uint32_t(uint8_t(in[p + b])) << (8 * b);
      p += vbytes;
      const int64_t take =
          std::min<int64_t>(int64_t(std::min<uint64_t>(run, uint64_t(INT64_MAX))), count - got);
      out->insert(out->end(), size_t(take), v);
      got += take;
    }
  }
  return p;
}

result<size_t> parquet_delta_decode(std::string_view in, int64_t count, std::vector<int64_t>* out,
                                    int64_t max_count) {
  cursor c{in};
  KAITO_ASSIGN_OR_RETURN(uint64_t block, c.uleb());
  KAITO_ASSIGN_OR_RETURN(uint64_t minis, c.uleb());
  KAITO_ASSIGN_OR_RETURN(uint64_t total, c.uleb());
  KAITO_ASSIGN_OR_RETURN(int64_t first, c.zigzag());
  if (block == 0 || block % 128 != 0 || block > (uint64_t{1} << 20))
    return invalid_argument("block size " + std::to_string(block) + " is not a multiple of 128");
  if (minis == 0 || block % minis != 0 || (block / minis) % 32 != 0)
    return invalid_argument(std::to_string(minis) + " miniblocks do not split a block of " +
                            std::to_string(block) + " into multiples of 32");
  if (total > uint64_t(max_count))
    return invalid_argument(std::to_string(total) + " values exceed the reader's limit");
  if (count >= 0 && total != uint64_t(count))
    return invalid_argument("the header says " + std::to_string(total) + " values, the page " +
                            std::to_string(count));
  const uint64_t per_mini = block / minis;
  out->reserve(out->size() + size_t(total));
  if (total == 0) return c.p;
  uint64_t prev = uint64_t(first);
  out->push_back(first);
  uint64_t left = total - 1;
  while (left > 0) {
    KAITO_ASSIGN_OR_RETURN(int64_t min_delta, c.zigzag());
    if (minis > in.size() - c.p) return invalid_argument("truncated miniblock bit widths");
    const std::string_view widths = in.substr(c.p, size_t(minis));
    c.p += size_t(minis);
    for (uint64_t m = 0; m < minis && left > 0; ++m) {
      const int w = uint8_t(widths[size_t(m)]);
      if (w > 64) return invalid_argument("miniblock bit width " + std::to_string(w));
      const uint64_t nbytes = per_mini * uint64_t(w) / 8;
      if (nbytes > in.size() - c.p) return invalid_argument("truncated miniblock");
      const std::string_view body = in.substr(c.p, size_t(nbytes));
      c.p += size_t(nbytes);
      for (uint64_t i = 0; i < per_mini && left > 0; ++i, --left) {
        prev = prev + uint64_t(min_delta) + unpack(body, i, w);
        out->push_back(int64_t(prev));
      }
    }
  }
  return c.p;
}

}  // namespace kaito::engine
