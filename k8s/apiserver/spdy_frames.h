// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 as SPDY/3, plus 3.1's session windows), the
// subset kubectl port-forward speaks through Go's moby/spdystream: the server side of the session
// lives in port_forward_session.cpp.
//
// Wire format (all integers big-endian):
//   control frame: 1 | version(15) = 3 | type(16) | flags(8) | length(24) | payload[length]
//   data frame:    0 | stream-id(31)            | flags(8) | length(24) | payload[length]
// Control payloads: SYN_STREAM stream-id(4) assoc-id(4) pri/slot(2) header-block;
// SYN_REPLY and HEADERS stream-id(4) header-block; RST_STREAM stream-id(4) status(4);
// SETTINGS count(4) then 8 bytes per entry; PING id(4); GOAWAY last-good-id(4) status(4);
// WINDOW_UPDATE stream-id(4) delta(4). FLAG_FIN = 1 (both kinds), FLAG_UNIDIRECTIONAL = 2.
//
// Header blocks: count(4), then per header name-len(4) name value-len(4) value (several values of a
// name are joined by NUL), compressed with zlib using the SPDY/3 dictionary; each direction of a
// session is ONE zlib stream (the peer's dictionary state carries over between frames), each
// block ending on a Z_SYNC_FLUSH boundary.
//
// Limits (bad input is refused with a message, never a crash or a large allocation): a frame
// payload of at most kMaxFrameLength bytes (spdystream's writers send at most 32 KiB of data per
// frame); a header block that inflates to at most kMaxHeaderBlock bytes with at most kMaxHeaders
// headers; a control frame whose payload is shorter than its type's fixed part is malformed.
// Unknown control frame types parse (the session ignores them, as the spec asks).
//
// Thread-safety: the compressor and decompressor hold zlib state; one per session direction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kaito::k8s::apiserver::spdy {

constexpr uint16_t kVersion = 3;
constexpr size_t kMaxFrameLength = 1 << 20;
constexpr size_t kMaxHeaderBlock = 64 * 1024;
constexpr size_t kMaxHeaders = 128;

enum frame_type : uint16_t {
  kData = 0,  // not a control type: data frames carry no type field
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

constexpr uint8_t kFlagFin = 0x01;
constexpr uint8_t kFlagUnidirectional = 0x02;

// RST_STREAM status codes.
constexpr uint32_t kProtocolError = 1;
constexpr uint32_t kInvalidStream = 2;
constexpr uint32_t kRefusedStream = 3;
constexpr uint32_t kCancel = 5;
// GOAWAY status codes.
constexpr uint32_t kGoAwayOk = 0;
constexpr uint32_t kGoAwayProtocolError = 1;

using header_list = std::vector<std::pair<std::string, std::string>>;

struct frame {
  uint16_t type = kData;  // kData, or the control type
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data, SYN_*, HEADERS, RST_STREAM, WINDOW_UPDATE; GOAWAY's last-good id
  uint32_t value = 0;      // RST_STREAM/GOAWAY status, PING id, WINDOW_UPDATE delta
  std::string payload;     // data bytes; the still-compressed header block of SYN_*/HEADERS
  bool fin() const { return flags & kFlagFin; }
};

enum class parse_status { ok, need_more, malformed };

// Parses the first frame of `in`. ok: `out` is set and `consumed` bytes were used; need_more: `in`
// holds only part of a frame; malformed: `error` says why (the session must end with GOAWAY).
parse_status parse_frame(std::string_view in, frame& out, size_t& consumed, std::string& error);

std::string data_frame(uint32_t stream_id, std::string_view data, bool fin);
std::string syn_reply_frame(uint32_t stream_id, std::string_view compressed_headers, bool fin);
std::string syn_stream_frame(uint32_t stream_id, std::string_view compressed_headers,
                             uint8_t flags);
std::string rst_stream_frame(uint32_t stream_id, uint32_t status);
std::string ping_frame(uint32_t id);
std::string goaway_frame(uint32_t last_good_stream_id, uint32_t status);
std::string window_update_frame(uint32_t stream_id, uint32_t delta);

// The uncompressed header block (names as given: SPDY/3 wants them lower-case).
std::string encode_header_block(const header_list& headers);
// Parses an uncompressed header block; false with `error` when it is malformed or over the limits.
bool decode_header_block(std::string_view block, header_list& out, std::string& error);

// The value of `name` (first one), or "".
std::string header_value(const header_list& headers, std::string_view name);

// One direction's deflate stream.
class header_compressor {
 public:
  header_compressor();
  ~header_compressor();
  header_compressor(const header_compressor&) = delete;
  header_compressor& operator=(const header_compressor&) = delete;
  std::string compress(const header_list& headers);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

// One direction's inflate stream. After a failure the stream is broken: end the session.
class header_decompressor {
 public:
  header_decompressor();
  ~header_decompressor();
  header_decompressor(const header_decompressor&) = delete;
  header_decompressor& operator=(const header_decompressor&) = delete;
  bool decompress(std::string_view block, header_list& out, std::string& error);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace kaito::k8s::apiserver::spdy
