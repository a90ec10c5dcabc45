// The server side of client-go's websocket tunnel (tools/portforward/tunneling_connection.go,
// subprotocol "SPDY/3.1+portforward.k8s.io"): the SPDY session's bytes travel as the payloads of
// websocket binary messages (RFC 6455), so the tunnel is a duplex_stream over another one.
//
// Reading: client frames must be masked; binary and continuation payloads are the byte stream
// (message boundaries mean nothing); PING is answered with PONG, PONG is ignored, CLOSE is answered
// with CLOSE and ends the stream (-1), as does a text frame, an unmasked frame, a reserved opcode
// or bit, a control frame over 125 bytes or a data frame over kMaxWsFrame bytes. Writing: each
// write() is one unmasked binary frame.
//
// Also: the handshake's Sec-WebSocket-Accept value. Thread-safety: one thread, like the stream
// under it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "k8s/apiserver/api_types.h"

namespace kaito::k8s::apiserver {

constexpr size_t kMaxWsFrame = 1 << 20;

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455 section 4.2.2.
std::string websocket_accept(std::string_view key);

// One websocket frame as this server sends it (FIN set, unmasked).
std::string websocket_frame(unsigned opcode, std::string_view payload);

class ws_tunnel : public duplex_stream {
 public:
  explicit ws_tunnel(duplex_stream& raw) : raw_(raw) {}
  long read_some(char* buf, size_t n, int timeout_ms) override;
  bool write(std::string_view data) override;
  int fd() const override { return raw_.fd(); }
  int stop_fd() const override { return raw_.stop_fd(); }

 private:
  // Decodes the frames complete in in_ into payload_; false once the stream must end.
  bool decode();

  duplex_stream& raw_;
  std::string in_;       // raw bytes not decoded yet
  std::string payload_;  // decoded bytes not returned yet
  bool closed_ = false;
};

}  // namespace kaito::k8s::apiserver
