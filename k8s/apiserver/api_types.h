// The API server's transport-neutral request and response: the HTTP layer (server.cpp) fills an
// api_request, the router answers an api_response. Streaming answers (watch, log follow) carry a
// `stream` callback that the HTTP layer runs with a stream_writer over the open connection.
// Upgrades (pods/portforward) carry an `upgrade` callback: the HTTP layer sends the 101 answer
// (code and headers) and hands the raw connection (TLS or not) over as a duplex_stream.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

// Serializes for the wire: invalid UTF-8 (which can reach messages from request paths or bodies) is
// replaced with U+FFFD instead of throwing.
inline std::string to_wire(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct api_request {
  std::string method;                        // GET, POST, PUT, PATCH, DELETE
  std::string path;                          // decoded path, no query
  std::map<std::string, std::string> query;  // decoded; the last value wins
  std::string accept;
  std::string content_type;
  std::string body;
  std::string user_agent;  // names the field manager of writes without ?fieldManager=
  // For the proxy subresource: the query as received (still encoded, no '?'), every request
  // header in arrival order, the client's address ("" in-process) and its socket (-1 in-process;
  // only polled, to notice a client that hangs up before the answer starts).
  std::string raw_query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string remote_addr;
  int client_fd = -1;
};

// The open connection of a streaming response. write() sends one chunk; false once the client is
// gone.
class stream_writer {
 public:
  virtual ~stream_writer() = default;
  virtual bool write(std::string_view data) = 0;
  // Waits up to timeout_ms for `wake_fd` to become readable (-1: none) or the client to hang up.
  // Returns false when the client is gone or the server is stopping.
  virtual bool wait(int wake_fd, int timeout_ms) = 0;
  // The body broke off (a proxied backend failed mid-answer): the connection is closed without
  // the final chunk, so the client sees a truncated answer instead of a complete one.
  virtual void abort() = 0;
};

// The connection after a 101 Switching Protocols answer, byte by byte in both directions; no
// request deadline applies any more (each write still fails after the write timeout).
class duplex_stream {
 public:
  virtual ~duplex_stream() = default;
  // Reads at most `n` bytes, waiting at most `timeout_ms` (0: only what has already arrived or is
  // buffered). Returns the count read, 0 when nothing came in time, -1 once the peer is gone.
  // A 0 means nothing is buffered here any more: poll fd() before reading again.
  virtual long read_some(char* buf, size_t n, int timeout_ms) = 0;
  // Writes all of `data`; false once the peer is gone.
  virtual bool write(std::string_view data) = 0;
  virtual int fd() const = 0;       // the client socket, to poll for input
  virtual int stop_fd() const = 0;  // readable once the server is stopping
};

// True when the client on `fd` has hung up or its connection failed (never blocks; -1: false).
bool client_gone(int fd);

struct api_response {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // streamed answers send them too
  std::function<void(stream_writer&)> stream;                // set: a chunked streaming response
  std::function<void(duplex_stream&)> upgrade;  // set: `code` (101) and headers, then this

  static api_response json_body(int code, const json& j,
                                std::string content_type = "application/json") {
    api_response r;
    r.code = code;
    r.content_type = std::move(content_type);
    r.body = to_wire(j);
    return r;
  }
};

}  // namespace kaito::k8s::apiserver
