// probe_check; see probe_check.h.
#include "actors/probe_check.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "k8s/artifacts/curl_session.h"

namespace kaito::actors {

namespace {

std::string host_of(const msg::probe_spec& p, const std::string& pod_host) {
  std::string h = p.host.empty() ? pod_host : p.host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6
  return h;
}

bool has_header(const msg::probe_spec& p, const char* name) {
  return std::any_of(p.headers.begin(), p.headers.end(),
                     [&](const msg::label& h) { return strcasecmp(h.key.c_str(), name) == 0; });
}

probe_outcome http_check(const msg::probe_spec& p, const std::string& host, int32_t port,
                         const std::atomic<bool>* cancel) {
  namespace art = k8s::artifacts;
  std::string scheme = p.scheme == "HTTPS" ? "https" : "http";
  std::string path = p.path.empty() || p.path.front() != '/' ? "/" + p.path : p.path;
  art::http_request rq;
  rq.url = scheme + "://" + host + ":" + std::to_string(port) + path;
  rq.timeout = std::chrono::seconds(p.timeout_s);
  rq.verify_peer = false;
  rq.use_proxy = false;
  rq.cancel = cancel;
  for (const auto& h : p.headers) rq.headers.push_back(h.key + ": " + h.value);
  if (!has_header(p, "User-Agent")) rq.headers.push_back("User-Agent: kube-probe/1.32");
  if (!has_header(p, "Accept")) rq.headers.push_back("Accept: */*");
  rq.sink = [](std::string_view) { return true; };  // the body is not looked at
  auto rs = art::http_perform(rq);
  if (!rs.ok()) return {false, rs.error().message()};
  if (rs->status >= 200 && rs->status < 400) return {true, std::to_string(rs->status)};
  return {false, "HTTP probe failed with statuscode: " + std::to_string(rs->status)};
}

// Waits for fd to connect until the deadline, in slices that look at *cancel: 1 connected, 0
// timed out (or cancelled), -1 poll failed.
int wait_connect(int fd, std::chrono::steady_clock::time_point deadline,
                 const std::atomic<bool>* cancel) {
  for (;;) {
    if (cancel != nullptr && cancel->load()) return 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd pfd{fd, POLLOUT, 0};
    int n = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (n != 0) return n;
  }
}

probe_outcome tcp_check(const msg::probe_spec& p, const std::string& host, int32_t port,
                        const std::atomic<bool>* cancel) {
  std::string bare =
      host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  std::string what = "dial tcp " + host + ":" + std::to_string(port) + ": ";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(bare.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) return {false, what + gai_strerror(rc)};
  std::string last = "no address";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(p.timeout_s);
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int r = connect(fd, a->ai_addr, a->ai_addrlen);
    if (r == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      int n = wait_connect(fd, deadline, cancel);
      if (n == 0) {
        last = "i/o timeout";
      } else if (n < 0) {
        last = std::strerror(errno);
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0)
          ok = true;
        else
          last = std::string("connect: ") + std::strerror(err);
      }
    } else {
      last = std::string("connect: ") + std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (ok) return {true, "connected"};
  return {false, what + last};
}

}  // namespace

probe_outcome run_probe_check(const msg::probe_spec& p, const std::string& pod_host,
                              int32_t port_offset, const std::atomic<bool>* cancel) {
  int64_t port = static_cast<int64_t>(p.port) + std::max(port_offset, 0);
  if (p.port <= 0 || port > 65535)
    return {false, "port " + std::to_string(port) + " is out of range (1-65535)"};
  std::string host = host_of(p, pod_host);
  if (p.action == "http") return http_check(p, host, static_cast<int32_t>(port), cancel);
  if (p.action == "tcp") return tcp_check(p, host, static_cast<int32_t>(port), cancel);
  return {false, "probe action \"" + p.action + "\" is not run on this machine"};
}

}  // namespace kaito::actors
