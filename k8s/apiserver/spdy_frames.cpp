// SPDY/3 frame codec and header compression; see spdy_frames.h.
#include "k8s/apiserver/spdy_frames.h"

#include <zlib.h>

#include <algorithm>

namespace kaito::k8s::apiserver::spdy {

namespace {

uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

void put32(std::string& out, uint32_t v) {
  out += {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// The SPDY/3 header dictionary (spec section 2.6.10.1): length-prefixed words, then a text tail.
// 1423 bytes; zlib checks its Adler-32 against the peer's, so it must be exact.
const std::string& dictionary() {
  static const std::string dict = [] {
    // The words, '|'-separated here; on the wire each is prefixed by its 4-byte length.
    static const char words[] =
        "options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|accept-language|"
        "accept-ranges|age|allow|authorization|cache-control|connection|content-base|"
        "content-encoding|content-language|content-length|content-location|content-md5|"
        "content-range|content-type|date|etag|expect|expires|from|host|if-match|"
        "if-modified-since|if-none-match|if-range|if-unmodified-since|last-modified|location|"
        "max-forwards|pragma|proxy-authenticate|proxy-authorization|range|referer|retry-after|"
        "server|te|trailer|transfer-encoding|upgrade|user-agent|vary|via|warning|www-authenticate|"
        "method|get|status|200 OK|version|HTTP/1.1|url|public|set-cookie|keep-alive|origin";
    std::string d;
    std::string_view all = words;
    for (size_t start = 0; start <= all.size();) {
      size_t bar = std::min(all.find('|', start), all.size());
      put32(d, static_cast<uint32_t>(bar - start));
      d += all.substr(start, bar - start);
      start = bar + 1;
    }
    d +=
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
        "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
        "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
        "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
        "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
        "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,"
        "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
  }();
  return dict;
}

std::string control(uint16_t type, uint8_t flags, size_t length) {
  std::string out;
  out.reserve(8 + length);
  out +=
      {static_cast<char>(0x80),        static_cast<char>(kVersion), static_cast<char>(type >> 8),
       static_cast<char>(type),        static_cast<char>(flags),    static_cast<char>(length >> 16),
       static_cast<char>(length >> 8), static_cast<char>(length)};
  return out;
}

// The fixed part of each known control payload (the header block or entries follow).
size_t fixed_length(uint16_t type) {
  switch (type) {
    case kSynStream:
      return 10;
    case kSynReply:
    case kHeaders:
    case kSettings:
    case kPing:
      return 4;
    case kRstStream:
    case kGoAway:
    case kWindowUpdate:
      return 8;
    default:
      return 0;
  }
}

}  // namespace

parse_status parse_frame(std::string_view in, frame& out, size_t& consumed, std::string& error) {
  if (in.size() < 8) return parse_status::need_more;
  const char* p = in.data();
  const bool is_control = static_cast<unsigned char>(p[0]) & 0x80;
  const uint8_t flags = static_cast<uint8_t>(p[4]);
  const size_t length = be32(p + 4) & 0xffffff;
  if (length > kMaxFrameLength) {
    error = "frame of " + std::to_string(length) + " bytes exceeds the limit of " +
            std::to_string(kMaxFrameLength);
    return parse_status::malformed;
  }
  uint16_t type = kData;
  if (is_control) {
    uint16_t version = static_cast<uint16_t>(((static_cast<unsigned char>(p[0]) & 0x7f) << 8) |
                                             static_cast<unsigned char>(p[1]));
    if (version != kVersion) {
      error = "unsupported SPDY version " + std::to_string(version);
      return parse_status::malformed;
    }
    type = static_cast<uint16_t>((static_cast<unsigned char>(p[2]) << 8) |
                                 static_cast<unsigned char>(p[3]));
    if (type == kData) {
      error = "control frame of type 0";
      return parse_status::malformed;
    }
    if (length < fixed_length(type)) {
      error = "control frame of type " + std::to_string(type) + " is too short";
      return parse_status::malformed;
    }
  }
  if (in.size() < 8 + length) return parse_status::need_more;
  const char* body = p + 8;
  out = frame{};
  out.type = type;
  out.flags = flags;
  consumed = 8 + length;
  if (!is_control) {
    out.stream_id = be32(p) & 0x7fffffff;
    out.payload.assign(body, length);
    return parse_status::ok;
  }
  switch (type) {
    case kSynStream:
      out.stream_id = be32(body) & 0x7fffffff;
      out.payload.assign(body + 10, length - 10);
      break;
    case kSynReply:
    case kHeaders:
      out.stream_id = be32(body) & 0x7fffffff;
      out.payload.assign(body + 4, length - 4);
      break;
    case kRstStream:
    case kWindowUpdate:
    case kGoAway:
      out.stream_id = be32(body) & 0x7fffffff;
      out.value = be32(body + 4) & (type == kWindowUpdate ? 0x7fffffff : 0xffffffff);
      break;
    case kPing:
      out.value = be32(body);
      break;
    case kSettings: {
      uint32_t n = be32(body);
      if (n > (length - 4) / 8 || 4 + size_t{n} * 8 != length) {
        error = "SETTINGS frame with a bad entry count";
        return parse_status::malformed;
      }
      out.payload.assign(body + 4, length - 4);
      break;
    }
    default:
      out.payload.assign(body, length);  // unknown: kept for completeness, ignored by sessions
  }
  return parse_status::ok;
}

std::string data_frame(uint32_t stream_id, std::string_view data, bool fin) {
  std::string out;
  out.reserve(8 + data.size());
  put32(out, stream_id & 0x7fffffff);
  put32(out, (uint32_t{fin ? kFlagFin : uint8_t{0}} << 24) |
                 static_cast<uint32_t>(data.size() & 0xffffff));
  out += data;
  return out;
}

std::string syn_reply_frame(uint32_t stream_id, std::string_view compressed_headers, bool fin) {
  std::string out = control(kSynReply, fin ? kFlagFin : 0, 4 + compressed_headers.size());
  put32(out, stream_id & 0x7fffffff);
  out += compressed_headers;
  return out;
}

std::string syn_stream_frame(uint32_t stream_id, std::string_view compressed_headers,
                             uint8_t flags) {
  std::string out = control(kSynStream, flags, 10 + compressed_headers.size());
  put32(out, stream_id & 0x7fffffff);
  put32(out, 0);
  out += {'\0', '\0'};
  out += compressed_headers;
  return out;
}

std::string rst_stream_frame(uint32_t stream_id, uint32_t status) {
  std::string out = control(kRstStream, 0, 8);
  put32(out, stream_id & 0x7fffffff);
  put32(out, status);
  return out;
}

std::string ping_frame(uint32_t id) {
  std::string out = control(kPing, 0, 4);
  put32(out, id);
  return out;
}

std::string goaway_frame(uint32_t last_good_stream_id, uint32_t status) {
  std::string out = control(kGoAway, 0, 8);
  put32(out, last_good_stream_id & 0x7fffffff);
  put32(out, status);
  return out;
}

std::string window_update_frame(uint32_t stream_id, uint32_t delta) {
  std::string out = control(kWindowUpdate, 0, 8);
  put32(out, stream_id & 0x7fffffff);
  put32(out, delta & 0x7fffffff);
  return out;
}

std::string encode_header_block(const header_list& headers) {
  std::string out;
  put32(out, static_cast<uint32_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    put32(out, static_cast<uint32_t>(k.size()));
    out += k;
    put32(out, static_cast<uint32_t>(v.size()));
    out += v;
  }
  return out;
}

bool decode_header_block(std::string_view block, header_list& out, std::string& error) {
  out.clear();
  auto take = [&](std::string& s) {
    if (block.size() < 4) return false;
    uint32_t n = be32(block.data());
    block.remove_prefix(4);
    if (n > block.size()) return false;
    s.assign(block.data(), n);
    block.remove_prefix(n);
    return true;
  };
  if (block.size() < 4) {
    error = "header block too short";
    return false;
  }
  uint32_t count = be32(block.data());
  block.remove_prefix(4);
  if (count > kMaxHeaders) {
    error = "header block with " + std::to_string(count) + " headers (limit " +
            std::to_string(kMaxHeaders) + ")";
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    std::string k, v;
    if (!take(k) || !take(v)) {
      error = "truncated header block";
      return false;
    }
    out.emplace_back(std::move(k), std::move(v));
  }
  if (!block.empty()) {
    error = "trailing bytes after the header block";
    return false;
  }
  return true;
}

std::string header_value(const header_list& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v.substr(0, v.find('\0'));
  return "";
}

struct header_compressor::impl {
  z_stream z{};
};

header_compressor::header_compressor() : p_(std::make_unique<impl>()) {
  deflateInit(&p_->z, Z_BEST_COMPRESSION);
  const std::string& d = dictionary();
  deflateSetDictionary(&p_->z, reinterpret_cast<const Bytef*>(d.data()),
                       static_cast<uInt>(d.size()));
}

header_compressor::~header_compressor() {
  deflateEnd(&p_->z);
}

std::string header_compressor::compress(const header_list& headers) {
  std::string in = encode_header_block(headers);
  std::string out;
  p_->z.next_in = reinterpret_cast<Bytef*>(in.data());
  p_->z.avail_in = static_cast<uInt>(in.size());
  char buf[4096];
  do {
    p_->z.next_out = reinterpret_cast<Bytef*>(buf);
    p_->z.avail_out = sizeof buf;
    deflate(&p_->z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - p_->z.avail_out);
  } while (p_->z.avail_out == 0);
  return out;
}

struct header_decompressor::impl {
  z_stream z{};
  bool broken = false;
};

header_decompressor::header_decompressor() : p_(std::make_unique<impl>()) {
  inflateInit(&p_->z);
}

header_decompressor::~header_decompressor() {
  inflateEnd(&p_->z);
}

bool header_decompressor::decompress(std::string_view block, header_list& out, std::string& error) {
  if (p_->broken) {
    error = "header compression stream already failed";
    return false;
  }
  std::string plain;
  z_stream& z = p_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  while (z.avail_in > 0) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      const std::string& d = dictionary();
      rc = inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()),
                                static_cast<uInt>(d.size()));
    }
    plain.append(buf, sizeof buf - z.avail_out);
    if (plain.size() > kMaxHeaderBlock) {
      error = "header block inflates past " + std::to_string(kMaxHeaderBlock) + " bytes";
      p_->broken = true;
      return false;
    }
    if (rc == Z_BUF_ERROR && z.avail_out != 0) break;  // no progress possible: input exhausted
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      error = std::string("header block does not inflate: ") + (z.msg ? z.msg : "zlib error");
      p_->broken = true;
      return false;
    }
  }
  // Output zlib still holds for this block (the input ended exactly at a full buffer).
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    plain.append(buf, sizeof buf - z.avail_out);
    if (plain.size() > kMaxHeaderBlock) {
      error = "header block inflates past " + std::to_string(kMaxHeaderBlock) + " bytes";
      p_->broken = true;
      return false;
    }
    if (rc != Z_OK || z.avail_out != 0) break;
  }
  if (!decode_header_block(plain, out, error)) {
    p_->broken = true;
    return false;
  }
  return true;
}

}  // namespace kaito::k8s::apiserver::spdy
