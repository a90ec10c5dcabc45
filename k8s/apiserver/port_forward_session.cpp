// The port-forward SPDY session; see port_forward_session.h.
#include "k8s/apiserver/port_forward_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <vector>

#include "k8s/apiserver/proxy_forward.h"
#include "k8s/apiserver/spdy_frames.h"

namespace kaito::k8s::apiserver {

namespace {

using namespace spdy;

constexpr size_t kReadChunk = 32 * 1024;

struct stream_state {
  std::string request;
  bool is_data = false;
  bool reset = false;       // RST_STREAM received
  bool server_fin = false;  // our FIN sent
};

struct request_state {
  // When its first stream came, then when its dial started (for the two timeouts).
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  int port = 0;
  uint32_t error_id = 0, data_id = 0;
  int fd = -1;
  bool connecting = false;
  bool client_fin = false;  // the client will send no more data
  bool shut_wr = false;
  std::string to_target;
};

// Go's wording for a socket error: lower-case strerror ("connection refused").
std::string go_error(int err) {
  std::string m = std::strerror(err);
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

class session {
 public:
  session(duplex_stream& c, const forward_target& t) : c_(c), t_(t) {}
  std::string run();

 private:
  bool send(const std::string& f) {
    if (alive_ && !c_.write(f)) alive_ = false;
    return alive_;
  }
  void fail(const std::string& why) {
    send(goaway_frame(last_id_, kGoAwayProtocolError));
    error_ = why;
    alive_ = false;
  }
  void on_frame(frame& f);
  void on_syn_stream(frame& f);
  void reject(uint32_t id, uint32_t status) { send(rst_stream_frame(id, status)); }
  void start(const std::string& id, request_state& r);
  void finish(const std::string& id, const std::string& message);
  void on_target(const std::string& id, short revents);
  void close_stream(uint32_t id, const std::string& message);
  void expire();
  size_t pending() const {
    size_t n = 0;
    for (const auto& [id, r] : requests_) n += r.to_target.size();
    return n;
  }

  duplex_stream& c_;
  const forward_target& t_;
  header_compressor out_headers_;
  header_decompressor in_headers_;
  std::string in_;
  std::map<uint32_t, stream_state> streams_;
  std::map<std::string, request_state> requests_;
  uint32_t last_id_ = 0;
  bool alive_ = true;
  std::string error_;
};

void session::on_frame(frame& f) {
  switch (f.type) {
    case kData: {
      auto s = streams_.find(f.stream_id);
      if (s == streams_.end() || s->second.reset) return;
      auto r = requests_.find(s->second.request);
      if (r == requests_.end() || !s->second.is_data) return;
      r->second.to_target += f.payload;
      if (f.fin()) r->second.client_fin = true;
      return;
    }
    case kSynStream:
      return on_syn_stream(f);
    case kSynReply:
    case kHeaders: {  // never expected here, but the zlib stream must stay in step
      header_list ignored;
      std::string err;
      if (!in_headers_.decompress(f.payload, ignored, err)) fail(err);
      return;
    }
    case kRstStream: {
      auto s = streams_.find(f.stream_id);
      if (s == streams_.end()) return;
      s->second.reset = true;
      if (s->second.is_data) finish(s->second.request, "");
      return;
    }
    case kPing:
      if (f.value & 1) send(ping_frame(f.value));
      return;
    case kGoAway:
      alive_ = false;
      return;
    default:
      return;  // SETTINGS, WINDOW_UPDATE, unknown types
  }
}

void session::on_syn_stream(frame& f) {
  header_list h;
  std::string err;
  if (!in_headers_.decompress(f.payload, h, err)) return fail(err);
  const uint32_t id = f.stream_id;
  if (id == 0 || id % 2 == 0 || id <= last_id_) return reject(id, kProtocolError);
  last_id_ = id;
  if (streams_.size() >= kMaxStreams) return reject(id, kRefusedStream);
  const std::string type = header_value(h, "streamtype");
  const std::string port_text = header_value(h, "port");
  std::string request = header_value(h, "requestid");
  char* end = nullptr;
  long port = port_text.empty() ? 0 : std::strtol(port_text.c_str(), &end, 10);
  if ((type != "error" && type != "data") || port < 1 || port > 65535 || *end != '\0')
    return reject(id, kCancel);
  const bool is_data = type == "data";
  if (request.empty()) request = std::to_string(is_data ? id - 2 : id);
  request_state& r = requests_[request];
  uint32_t& slot = is_data ? r.data_id : r.error_id;
  if (slot != 0) return reject(id, kCancel);
  slot = id;
  r.port = static_cast<int>(port);
  streams_[id] = {request, is_data, false, false};
  if (!send(syn_reply_frame(id, out_headers_.compress({}), false))) return;
  if (is_data && f.fin()) r.client_fin = true;
  if (r.error_id && r.data_id) start(request, r);
}

void session::start(const std::string& id, request_state& r) {
  const int64_t port = r.port + t_.offset;
  const std::string host = join_host_port(t_.ip, static_cast<uint16_t>(port));
  const std::string prefix = "error forwarding port " + std::to_string(r.port) + " to pod " +
                             t_.pod + ", uid : dial tcp " + host + ": ";
  if (port > 65535) return finish(id, prefix + "invalid port");
  if (!t_.dial) return finish(id, prefix + "dialing is disabled on this server");
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, t_.ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, t_.ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return finish(id, prefix + "invalid IP address");
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return finish(id, prefix + go_error(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  r.fd = fd;
  r.since = std::chrono::steady_clock::now();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return;
  if (errno == EINPROGRESS) {
    r.connecting = true;
    return;
  }
  finish(id, prefix + "connect: " + go_error(errno));
}

void session::close_stream(uint32_t id, const std::string& message) {
  auto s = streams_.find(id);
  if (s == streams_.end()) return;
  if (!s->second.reset && !s->second.server_fin) {
    if (!message.empty()) send(data_frame(id, message, false));
    send(data_frame(id, "", true));
  }
  streams_.erase(s);
}

// Ends request `id`: its target is closed, the error stream (with `message`, if any) and then the
// data stream get FIN, as the kubelet's deferred Close calls do.
void session::finish(const std::string& id, const std::string& message) {
  auto r = requests_.find(id);
  if (r == requests_.end()) return;
  if (r->second.fd >= 0) ::close(r->second.fd);
  close_stream(r->second.error_id, message);
  close_stream(r->second.data_id, "");
  requests_.erase(r);
}

void session::on_target(const std::string& id, short revents) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  request_state& r = it->second;
  if (r.connecting) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      const std::string host = join_host_port(t_.ip, static_cast<uint16_t>(r.port + t_.offset));
      return finish(id, "error forwarding port " + std::to_string(r.port) + " to pod " + t_.pod +
                            ", uid : dial tcp " + host + ": connect: " + go_error(err));
    }
    r.connecting = false;
  }
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    char buf[kReadChunk];
    ssize_t n = ::recv(r.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return finish(id, "");
    if (n > 0) {
      auto s = streams_.find(r.data_id);
      if (s != streams_.end() && !s->second.reset)
        send(data_frame(r.data_id, std::string_view(buf, static_cast<size_t>(n)), false));
    }
  }
  if (!r.to_target.empty()) {
    ssize_t n = ::send(r.fd, r.to_target.data(), r.to_target.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return finish(id, "");
    if (n > 0) r.to_target.erase(0, static_cast<size_t>(n));
  }
  if (r.to_target.empty() && r.client_fin && !r.shut_wr) {
    ::shutdown(r.fd, SHUT_WR);
    r.shut_wr = true;
  }
}

// Requests whose second stream never came (target.stream_pair_timeout) or whose target does not
// answer the dial (target.dial_timeout) end with a message on their error stream.
void session::expire() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, std::string>> done;
  for (const auto& [id, r] : requests_) {
    if ((!r.error_id || !r.data_id) && now - r.since > t_.stream_pair_timeout)
      done.emplace_back(id, "timed out waiting for the data and error streams of request " + id);
    else if (r.connecting && now - r.since > t_.dial_timeout)
      done.emplace_back(id, "error forwarding port " + std::to_string(r.port) + " to pod " +
                                t_.pod + ", uid : dial tcp " +
                                join_host_port(t_.ip, static_cast<uint16_t>(r.port + t_.offset)) +
                                ": i/o timeout");
  }
  for (const auto& [id, message] : done) finish(id, message);
}

std::string session::run() {
  bool maybe_buffered = true;  // early bytes may wait in the connection before any poll
  std::vector<pollfd> fds;
  std::vector<std::string> ids;
  std::vector<char> buf(64 * 1024);
  while (alive_) {
    const bool paused = pending() > kMaxPending;
    fds.assign({{paused ? -1 : c_.fd(), POLLIN | POLLRDHUP, 0}, {c_.stop_fd(), POLLIN, 0}});
    ids.clear();
    for (const auto& [id, r] : requests_) {
      if (r.fd < 0) continue;
      short ev = r.connecting ? POLLOUT : POLLIN;
      if (!r.connecting && !r.to_target.empty()) ev |= POLLOUT;
      fds.push_back({r.fd, ev, 0});
      ids.push_back(id);
    }
    int rc = ::poll(fds.data(), fds.size(), maybe_buffered && !paused ? 0 : 1000);
    if (rc < 0 && errno != EINTR) return "poll failed: " + go_error(errno);
    if (fds[1].revents) return "server stopping";
    if (!paused && (maybe_buffered || fds[0].revents)) {
      long n = c_.read_some(buf.data(), buf.size(), 0);
      if (n < 0) break;
      maybe_buffered = n > 0;
      in_.append(buf.data(), static_cast<size_t>(n));
      size_t used = 0;
      while (alive_) {
        frame f;
        size_t consumed = 0;
        std::string err;
        auto st = parse_frame(std::string_view(in_).substr(used), f, consumed, err);
        if (st == parse_status::need_more) break;
        if (st == parse_status::malformed) {
          fail(err);
          break;
        }
        used += consumed;
        on_frame(f);
      }
      in_.erase(0, used);
    }
    for (size_t i = 0; i < ids.size() && alive_; ++i)
      if (fds[i + 2].revents || !requests_.count(ids[i]) || !requests_.at(ids[i]).to_target.empty())
        on_target(ids[i], fds[i + 2].revents);
    if (alive_) expire();
  }
  for (auto& [id, r] : requests_)
    if (r.fd >= 0) ::close(r.fd);
  requests_.clear();
  return error_;
}

}  // namespace

std::string run_port_forward_session(duplex_stream& conn, const forward_target& target) {
  session s(conn, target);
  return s.run();
}

}  // namespace kaito::k8s::apiserver
