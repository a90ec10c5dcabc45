// Websocket tunnel for port-forward; see ws_tunnel.h.
#include "k8s/apiserver/ws_tunnel.h"

#include <openssl/sha.h>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <cstdint>
#include <cstring>

namespace kaito::k8s::apiserver {

namespace {

constexpr unsigned kContinuation = 0, kBinary = 2, kClose = 8, kPing = 9, kPong = 10;

}  // namespace

std::string websocket_accept(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::encoded_size(sizeof digest), '\0');
  out.resize(b64::encode(out.data(), digest, sizeof digest));
  return out;
}

std::string websocket_frame(unsigned opcode, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  out += static_cast<char>(0x80 | (opcode & 0x0f));
  const uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n <= 0xffff) {
    out += {static_cast<char>(126), static_cast<char>(n >> 8), static_cast<char>(n)};
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(n >> shift);
  }
  out += payload;
  return out;
}

bool ws_tunnel::decode() {
  size_t pos = 0;
  bool ok = true;
  while (ok) {
    std::string_view in = std::string_view(in_).substr(pos);
    if (in.size() < 2) break;
    auto b = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
    const unsigned opcode = b(0) & 0x0f;
    const bool masked = b(1) & 0x80;
    uint64_t len = b(1) & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (in.size() < 4) break;
      len = (uint64_t{b(2)} << 8) | b(3);
      head = 4;
    } else if (len == 127) {
      if (in.size() < 10) break;
      len = 0;
      for (size_t i = 0; i < 8; ++i) len = (len << 8) | b(2 + i);
      head = 10;
    }
    const bool control = opcode & 0x08;
    if ((b(0) & 0x70) || !masked || (control && (len > 125 || !(b(0) & 0x80))) ||
        len > kMaxWsFrame ||
        (opcode != kContinuation && opcode != kBinary && opcode != kClose && opcode != kPing &&
         opcode != kPong)) {
      ok = false;  // text frames, reserved bits and opcodes, unmasked or oversized frames
      break;
    }
    if (in.size() < head + 4 + len) break;
    const char* mask = in.data() + head;
    std::string data(in.substr(head + 4, len));
    for (size_t i = 0; i < data.size(); ++i) data[i] ^= mask[i % 4];
    pos += head + 4 + len;
    if (opcode == kBinary || opcode == kContinuation) {
      payload_ += data;
    } else if (opcode == kPing) {
      ok = raw_.write(websocket_frame(kPong, data));
    } else if (opcode == kClose) {
      raw_.write(websocket_frame(kClose, data.substr(0, std::min<size_t>(data.size(), 2))));
      ok = false;
    }
  }
  in_.erase(0, pos);
  return ok;
}

long ws_tunnel::read_some(char* buf, size_t n, int timeout_ms) {
  for (;;) {
    if (!payload_.empty()) {
      size_t k = std::min(n, payload_.size());
      std::memcpy(buf, payload_.data(), k);
      payload_.erase(0, k);
      return static_cast<long>(k);
    }
    if (closed_) return -1;
    char tmp[16 * 1024];
    long got = raw_.read_some(tmp, sizeof tmp, timeout_ms);
    if (got <= 0) return got;
    in_.append(tmp, static_cast<size_t>(got));
    if (!decode()) closed_ = true;
  }
}

bool ws_tunnel::write(std::string_view data) {
  return !closed_ && raw_.write(websocket_frame(kBinary, data));
}

}  // namespace kaito::k8s::apiserver
