// HTTP transport of the embedded API server; see server.h.
#include "k8s/apiserver/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "base/log.h"
#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/handlers.h"
#include "k8s/apiserver/kubeconfig.h"
#include "k8s/apiserver/object_meta.h"
#include "k8s/apiserver/pki.h"
#include "k8s/apiserver/route.h"
#include "k8s/client/http_read.h"
#include "k8s/client/tcp_listen.h"
#include "k8s/client/timed_socket.h"

namespace kaito::k8s::apiserver {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct api_server::impl {
  server_options opts;
  std::unique_ptr<store> db;
  registry reg;
  std::atomic<bool> stopping{false};
  std::unique_ptr<api_context> ctx;
  net::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  uint16_t port = 0;
  int stop_fd = -1;
  std::thread accept_thread;
  std::mutex mu;
  std::condition_variable cv;
  std::set<int> conns;
  int active = 0;
  bool stopped = false;
  std::shared_ptr<spdlog::logger> log = kaito::logger("apiserver");
  std::unique_ptr<net::ssl::context> tls;  // set: HTTPS
  std::string ca_pem;

  void accept_loop();
  void serve(tcp::socket sock);
  template <class Stream>
  void serve_stream(Stream& s, timed_socket& ts, int fd);
  void refuse(tcp::socket& sock);
  api_response dispatch(const api_request& req);
};

namespace {

template <class Stream>
class chunk_writer : public stream_writer {
 public:
  chunk_writer(Stream& s, int fd, int stop_fd) : s_(s), fd_(fd), stop_fd_(stop_fd) {}
  bool write(std::string_view data) override {
    if (data.empty()) return true;
    beast::error_code ec;
    net::write(s_, http::make_chunk(net::buffer(data.data(), data.size())), ec);
    return !ec;
  }
  bool wait(int wake_fd, int timeout_ms) override {
    pollfd fds[3] = {{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int r = ::poll(fds, wake_fd >= 0 ? 3 : 2, timeout_ms);
    if (r < 0) return errno == EINTR;
    if (fds[1].revents) return false;
    if (fds[0].revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return false;
    if (fds[0].revents & POLLIN) {
      char c;
      ssize_t k = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (k == 0) return false;
      // The client sent bytes mid-stream (pipelining): we do not read them; avoid spinning.
      if (k > 0 && !(wake_fd >= 0 && fds[2].revents))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  void abort() override { aborted_ = true; }
  bool aborted() const { return aborted_; }

 private:
  Stream& s_;
  int fd_;
  int stop_fd_;
  bool aborted_ = false;
};

// The connection after a 101 answer: bytes the HTTP parser read past the request come first.
template <class Stream>
class upgraded_stream : public duplex_stream {
 public:
  upgraded_stream(Stream& s, timed_socket& ts, int fd, int stop_fd, std::string early)
      : s_(s), ts_(ts), fd_(fd), stop_fd_(stop_fd), early_(std::move(early)) {}
  long read_some(char* buf, size_t n, int timeout_ms) override {
    if (n == 0) return 0;
    if (!early_.empty()) {
      size_t k = std::min(n, early_.size());
      std::memcpy(buf, early_.data(), k);
      early_.erase(0, k);
      return static_cast<long>(k);
    }
    ts_.arm_read(std::chrono::milliseconds(timeout_ms));
    beast::error_code ec;
    size_t k = s_.read_some(net::buffer(buf, n), ec);
    ts_.disarm_read();
    if (ec == net::error::timed_out) return 0;
    if (ec) return -1;
    return static_cast<long>(k);
  }
  bool write(std::string_view data) override {
    beast::error_code ec;
    net::write(s_, net::buffer(data.data(), data.size()), ec);
    return !ec;
  }
  int fd() const override { return fd_; }
  int stop_fd() const override { return stop_fd_; }

 private:
  Stream& s_;
  timed_socket& ts_;
  int fd_;
  int stop_fd_;
  std::string early_;
};

}  // namespace

bool client_gone(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return true;
  char c;
  return (p.revents & POLLIN) && ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

namespace {

bool authorized(const http::request<http::string_body>& req, const std::string& token) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  std::string_view v(it->value().data(), it->value().size());
  return v.size() == 7 + token.size() && v.substr(0, 7) == "Bearer " && v.substr(7) == token;
}

// Content-Type (when known), our Cache-Control, then the answer's headers (which replace ours of
// the same name: a proxied backend's Cache-Control wins).
template <class Fields>
void set_headers(Fields& res, const api_response& r) {
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-cache, private");
  for (const auto& [k, v] : r.headers) res.erase(k);
  for (const auto& [k, v] : r.headers) res.insert(k, v);
}

template <class Stream>
void send(Stream& sock, const api_response& r, bool keep_alive, beast::error_code& ec) {
  http::response<http::string_body> res{static_cast<http::status>(r.code), 11};
  set_headers(res, r);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  http::write(sock, res, ec);
}

}  // namespace

api_response api_server::impl::dispatch(const api_request& req) {
  try {
    return kaito::k8s::apiserver::handle(*ctx, req);
  } catch (const std::exception& e) {
    log_error(log, "handler failed", {{"path", req.path}, {"error", e.what()}});
    return error_response(
        500, "InternalError",
        std::string("an error on the server has prevented the request from succeeding: ") +
            e.what());
  }
}

void api_server::impl::accept_loop() {
  while (!stopping.load()) {
    beast::error_code ec;
    tcp::socket sock(io);
    acceptor->accept(sock, ec);
    if (ec) {
      if (stopping.load()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::lock_guard lock(mu);
    if (stopping.load()) break;
    if (active >= opts.max_connections) {
      refuse(sock);
      continue;
    }
    ++active;
    std::thread([this, s = std::move(sock)]() mutable { serve(std::move(s)); }).detach();
  }
}

// Beyond max_connections: a 503 Status (plain HTTP; a TLS client is just closed), never a thread.
void api_server::impl::refuse(tcp::socket& sock) {
  int fd = sock.native_handle();
  if (!tls) {
    api_response r = error_response(503, "ServiceUnavailable",
                                    "too many open connections (limit " +
                                        std::to_string(opts.max_connections) + "); retry later");
    std::string msg =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
        std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    (void)!::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  ::shutdown(fd, SHUT_WR);
  log_warn(log, "connection refused: connection limit reached",
           {{"limit", std::to_string(opts.max_connections)}});
  beast::error_code ignored;
  sock.close(ignored);
}

template <class Stream>
void api_server::impl::serve_stream(Stream& sock, timed_socket& ts, int fd) {
  using ms = std::chrono::milliseconds;
  beast::flat_buffer buf;
  while (!stopping.load()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(opts.max_body_bytes);
    beast::error_code ec;
    // Idle keep-alive until the first byte, then the whole request within the request timeout.
    beast::error_code read_error;
    const k8s::http_read got = k8s::read_http_request(
        sock, ts, buf, parser, ms(opts.idle_timeout_ms), ms(opts.request_timeout_ms), &read_error);
    if (got != k8s::http_read::ok) {
      if (got == k8s::http_read::timed_out_partial) {
        log_info(log, "request timed out: closing a slow client",
                 {{"timeout_ms", std::to_string(opts.request_timeout_ms)}});
        send(sock,
             error_response(408, "Timeout",
                            "the request was not received within " +
                                std::to_string(opts.request_timeout_ms) + " ms"),
             false, ec);
      } else if (got == k8s::http_read::too_large) {
        send(sock,
             error_response(413, "RequestEntityTooLarge",
                            "the request is too large: limit is " +
                                std::to_string(opts.max_body_bytes) + " bytes"),
             false, ec);
      } else if (got == k8s::http_read::malformed) {
        send(sock, bad_request("malformed HTTP request: " + read_error.message()), false, ec);
      }
      break;
    }
    auto& hreq = parser.get();
    auto t0 = std::chrono::steady_clock::now();
    api_request req;
    req.method = std::string(hreq.method_string());
    req.accept = std::string(hreq[http::field::accept]);
    req.content_type = std::string(hreq[http::field::content_type]);
    req.user_agent = std::string(hreq[http::field::user_agent]);
    req.body = std::move(hreq.body());
    for (const auto& f : hreq) req.headers.emplace_back(f.name_string(), f.value());
    beast::error_code peer_ec;
    auto peer = ts.lowest_layer().remote_endpoint(peer_ec);
    if (!peer_ec) req.remote_addr = peer.address().to_string();
    req.client_fd = fd;
    api_response resp;
    std::string target(hreq.target());
    if (size_t q = target.find('?'); q != std::string::npos) req.raw_query = target.substr(q + 1);
    if (auto st = parse_target(target, req.path, req.query); !st.ok()) {
      resp = bad_request(st.message());
    } else {
      route r = parse_route(req.path);
      bool public_path = r.k == route::kind::version || r.k == route::kind::health;
      if (!public_path && !authorized(hreq, ctx->opts.token))
        resp = error_response(401, "Unauthorized", "Unauthorized");
      else
        resp = dispatch(req);
    }
    if (resp.upgrade) {
      // 101 and the answer's headers, then the connection belongs to the upgrade until it ends.
      http::response<http::empty_body> res{static_cast<http::status>(resp.code), 11};
      for (const auto& [k, v] : resp.headers) res.insert(k, v);
      http::write(sock, res, ec);
      log_debug(log, "upgrade",
                {{"method", req.method}, {"target", target}, {"code", std::to_string(resp.code)}});
      if (!ec) {
        auto early = buf.data();
        upgraded_stream<Stream> d(
            sock, ts, fd, stop_fd,
            std::string(static_cast<const char*>(early.data()), early.size()));
        buf.consume(buf.size());
        resp.upgrade(d);
      }
      resp.upgrade = nullptr;
      break;
    }
    bool keep = hreq.keep_alive() && !resp.stream;
    if (resp.stream) {
      http::response<http::empty_body> res{static_cast<http::status>(resp.code), 11};
      set_headers(res, resp);
      res.chunked(true);
      res.keep_alive(false);
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(sock, sr, ec);
      log_debug(log, "stream",
                {{"method", req.method}, {"target", target}, {"code", std::to_string(resp.code)}});
      if (!ec) {
        chunk_writer<Stream> w(sock, fd, stop_fd);
        resp.stream(w);
        if (!w.aborted()) net::write(sock, http::make_chunk_last(), ec);
      }
      resp.stream = nullptr;
      break;
    }
    send(sock, resp, keep, ec);
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    log_debug(log, "request",
              {{"method", req.method},
               {"target", target},
               {"code", std::to_string(resp.code)},
               {"us", std::to_string(us)}});
    if (ec || !keep) break;
  }
}

void api_server::impl::serve(tcp::socket sock) {
  int fd = sock.native_handle();
  {
    std::lock_guard lock(mu);
    conns.insert(fd);
  }
  // Deadlines come from timed_socket (Asio's blocking operations poll past SO_RCVTIMEO); stop()
  // shuts every connection down.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  timed_socket ts(sock);
  ts.set_write_timeout(std::chrono::milliseconds(opts.write_timeout_ms));
  if (tls) {
    net::ssl::stream<timed_socket&> ss(ts, *tls);
    beast::error_code ec;
    ts.arm_read(std::chrono::milliseconds(opts.request_timeout_ms));
    ss.handshake(net::ssl::stream_base::server, ec);
    if (!ec) serve_stream(ss, ts, fd);
  } else {
    serve_stream(ts, ts, fd);
  }
  beast::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  {
    std::lock_guard lock(mu);
    conns.erase(fd);
  }
  sock.close(ignored);
  std::lock_guard lock(mu);
  if (--active == 0) cv.notify_all();
}

api_server::api_server(std::unique_ptr<impl> p) : p_(std::move(p)) {}

api_server::~api_server() {
  stop();
}

result<std::unique_ptr<api_server>> api_server::start(server_options opts) {
  auto p = std::make_unique<impl>();
  if (opts.home.empty()) opts.home = default_home();
  std::error_code fec;
  std::filesystem::create_directories(opts.home, fec);
  if (fec) return io_error("cannot create state directory: " + fec.message(), opts.home);
  if (opts.token.empty()) {
    KAITO_ASSIGN_OR_RETURN(opts.token, load_or_create_token(opts.home));
  }
  p->opts = opts;
  KAITO_ASSIGN_OR_RETURN(p->db, store::open(opts.home + "/store.db", {opts.compaction_window}));
  p->ctx = std::make_unique<api_context>(api_context{*p->db, p->reg, p->opts, p->stopping, ""});
  refresh_crds(*p->ctx);
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (p->db->get({"namespaces", "", ns}).ok()) continue;
    json obj = {{"metadata", {{"name", ns}}},
                {"spec", {{"finalizers", {"kubernetes"}}}},
                {"status", {{"phase", "Active"}}}};
    auto def = p->reg.find("", "v1", "namespaces");
    prepare_create(*def, "v1", "", obj);
    KAITO_TRY(p->db->create({"namespaces", "", ns}, obj).take_status());
  }
  KAITO_ASSIGN_OR_RETURN(p->acceptor, k8s::listen_tcp(p->io, opts.host, opts.port));
  p->port = p->acceptor->local_endpoint().port();
  p->ctx->host_port = opts.host + ":" + std::to_string(p->port);
  if (opts.tls) {
    KAITO_ASSIGN_OR_RETURN(tls_files pki, load_or_create_pki(opts.home + "/pki"));
    try {
      p->tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      p->tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                          net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                          net::ssl::context::no_tlsv1_1);
      p->tls->use_certificate_chain(net::buffer(pki.server_cert_pem));
      p->tls->use_private_key(net::buffer(pki.server_key_pem), net::ssl::context::pem);
    } catch (const std::exception& e) {
      return io_error(std::string("cannot load TLS material: ") + e.what(), opts.home + "/pki");
    }
    p->ca_pem = pki.ca_cert_pem;
  }
  p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::unique_ptr<api_server> srv(new api_server(std::move(p)));
  KAITO_TRY(write_private_file(srv->kubeconfig_path(),
                               render_kubeconfig(srv->url(), srv->token(), srv->ca_pem())));
  impl* raw = srv->p_.get();
  raw->accept_thread = std::thread([raw] { raw->accept_loop(); });
  log_info(raw->log, "listening", {{"url", srv->url()}, {"home", raw->opts.home}});
  return srv;
}

void api_server::stop() {
  if (!p_) return;
  {
    std::lock_guard lock(p_->mu);
    if (p_->stopped) return;
    p_->stopped = true;
    p_->stopping = true;
    uint64_t one = 1;
    if (p_->stop_fd >= 0) (void)!::write(p_->stop_fd, &one, sizeof one);
    if (p_->acceptor) ::shutdown(p_->acceptor->native_handle(), SHUT_RDWR);
    for (int fd : p_->conns) ::shutdown(fd, SHUT_RDWR);
  }
  if (p_->accept_thread.joinable()) p_->accept_thread.join();
  std::unique_lock lock(p_->mu);
  p_->cv.wait(lock, [&] { return p_->active == 0; });
  beast::error_code ec;
  if (p_->acceptor) p_->acceptor->close(ec);
  if (p_->stop_fd >= 0) ::close(p_->stop_fd);
  p_->stop_fd = -1;
}

uint16_t api_server::port() const {
  return p_->port;
}
std::string api_server::url() const {
  return (p_->tls ? "https://" : "http://") + p_->opts.host + ":" + std::to_string(p_->port);
}
const std::string& api_server::ca_pem() const {
  return p_->ca_pem;
}
const std::string& api_server::token() const {
  return p_->opts.token;
}
const std::string& api_server::home() const {
  return p_->opts.home;
}
std::string api_server::kubeconfig_path() const {
  return p_->opts.home + "/kubeconfig";
}
api_response api_server::handle(const api_request& req) {
  return p_->dispatch(req);
}
store& api_server::db() {
  return *p_->db;
}
registry& api_server::reg() {
  return p_->reg;
}

}  // namespace kaito::k8s::apiserver
