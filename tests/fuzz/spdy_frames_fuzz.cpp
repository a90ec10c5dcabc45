// libFuzzer target: the SPDY/3 frame codec of the port-forward session
// (k8s/apiserver/spdy_frames.h) on untrusted client bytes. The input is read as a frame sequence,
// the way the session reads it; header blocks of SYN_STREAM, SYN_REPLY and HEADERS go through one
// inflate stream. Any input must parse, ask for more or be refused, never crash, hang or allocate
// past the frame limit; a parsed frame never claims more bytes than it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/apiserver/spdy_frames.h"

namespace spdy = kaito::k8s::apiserver::spdy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * spdy::kMaxFrameLength) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  spdy::header_decompressor headers;
  bool headers_ok = true;
  while (!in.empty()) {
    spdy::frame f;
    size_t used = 0;
    std::string err;
    auto st = spdy::parse_frame(in, f, used, err);
    if (st != spdy::parse_status::ok) {
      if (st == spdy::parse_status::malformed && err.empty()) __builtin_trap();
      break;
    }
    if (used < 8 || used > in.size()) __builtin_trap();
    in.remove_prefix(used);
    if (headers_ok &&
        (f.type == spdy::kSynStream || f.type == spdy::kSynReply || f.type == spdy::kHeaders)) {
      spdy::header_list h;
      headers_ok = headers.decompress(f.payload, h, err);
      if (headers_ok && h.size() > spdy::kMaxHeaders) __builtin_trap();
    }
  }
  return 0;
}
