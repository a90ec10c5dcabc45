// The server side of a `kubectl port-forward` session: SPDY/3.1 (spdy_frames.h) over an upgraded
// connection, as the kubelet serves it (pkg/kubelet/cri/streaming/portforward/httpstream.go with
// moby/spdystream underneath).
//
// Per forwarded connection the client opens two streams with SYN_STREAM, headers
// `streamtype: error|data`, `port: P` (the pod's container port) and `requestid: N` (without one,
// the request id is the error stream's id, or the data stream's id - 2, as the kubelet guesses for
// old clients). Each stream is answered with SYN_REPLY; a bad streamtype or port, a second stream
// of one type for the same request, or too many live streams (kMaxStreams) get RST_STREAM instead.
// Once both streams of a request exist, target.ip:(P + target.offset) is dialed (non-blocking; the
// session never waits on one target) and bytes are pumped both ways: client DATA on the data stream
// goes to the target (a client FIN shuts the target's write side once the bytes are out), target
// bytes come back as DATA frames of at most 32 KiB. The target closing, or the client resetting the
// data stream, ends the request: FIN on the error stream, then FIN on the data stream. A failed
// dial first writes, on the error stream, the kubelet's message
//   error forwarding port 5000 to pod NAME, uid : dial tcp 127.0.0.1:5001: connect: connection
//   refused
// (kubectl prints it and, since client-go 1.31, closes the whole session). A dial that has not
// connected within dial_timeout ends the same way ("... : i/o timeout"), and a request whose
// second stream has not come within stream_pair_timeout (the kubelet's stream-creation timeout)
// is ended with a message saying so.
//
// Control frames: PING from the client (odd id) is echoed; SETTINGS, WINDOW_UPDATE, HEADERS and
// unknown types are accepted and ignored (spdystream neither sends nor honours flow-control
// windows, so none are enforced or sent here); GOAWAY ends the session. A malformed frame or a
// header block that does not inflate ends it with GOAWAY PROTOCOL_ERROR. Client input stops being
// read while more than kMaxPending bytes wait for slow targets (TCP back-pressure).
//
// The session ends when the client leaves, the server stops (conn.stop_fd()) or on GOAWAY; every
// target connection is closed then. Thread-safety: runs on the connection's thread, owns
// everything it touches.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "k8s/apiserver/api_types.h"

namespace kaito::k8s::apiserver {

struct forward_target {
  std::string pod;     // for error messages
  std::string ip;      // status.podIP
  int64_t offset = 0;  // kaito.sh/host-port-offset
  bool dial = true;    // false: every dial fails (server_options::proxy_dial)
  // How long a request may wait for its second stream (the kubelet's 30 s), and a dial to connect.
  std::chrono::milliseconds stream_pair_timeout{30000};
  std::chrono::milliseconds dial_timeout{20000};
};

constexpr size_t kMaxStreams = 512;
constexpr size_t kMaxPending = 4 << 20;

// Runs until the session ends; returns why ("" for a client that left or said GOAWAY).
std::string run_port_forward_session(duplex_stream& conn, const forward_target& target);

}  // namespace kaito::k8s::apiserver
