// libFuzzer target: the websocket framing of the port-forward tunnel (k8s/apiserver/ws_tunnel.h)
// on untrusted client bytes, fed through an in-memory connection in pieces of the sizes the
// first byte picks. Any input must give payload bytes or end the stream (-1), never crash, hang or
// buffer more than the frame limit allows; every answer the tunnel writes (PONG, CLOSE) is a
// well-formed unmasked frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/apiserver/ws_tunnel.h"

namespace {

namespace api = kaito::k8s::apiserver;

class memory_stream : public api::duplex_stream {
 public:
  memory_stream(std::string_view in, size_t piece) : in_(in), piece_(piece) {}
  long read_some(char* buf, size_t n, int) override {
    if (in_.empty()) return -1;
    size_t k = std::min({n, piece_, in_.size()});
    in_.copy(buf, k);
    in_.remove_prefix(k);
    return static_cast<long>(k);
  }
  bool write(std::string_view data) override {
    // One frame: FIN + opcode, an unmasked length.
    if (data.size() < 2 || (static_cast<unsigned char>(data[1]) & 0x80)) __builtin_trap();
    written_ += data.size();
    return true;
  }
  int fd() const override { return -1; }
  int stop_fd() const override { return -1; }

 private:
  std::string_view in_;
  size_t piece_;
  size_t written_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4 * api::kMaxWsFrame) return 0;
  const size_t piece = 1 + data[0] % 64;
  memory_stream raw(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), piece);
  api::ws_tunnel t(raw);
  char buf[4096];
  size_t total = 0;
  for (int reads = 0; reads < 1 << 20; ++reads) {
    long k = t.read_some(buf, sizeof buf, 0);
    if (k < 0) break;
    total += static_cast<size_t>(k);
    if (total > size) __builtin_trap();  // payload can never exceed what came in
  }
  return 0;
}
