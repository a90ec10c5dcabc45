// http_server; see http_server.h.
#include "actors/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/log.h"
#include "k8s/client/http_read.h"
#include "k8s/client/tcp_listen.h"
#include "k8s/client/timed_socket.h"

namespace kaito::actors {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct http_server::impl {
  http_server_options opts;
  http_handler handler;
  net::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  uint16_t port = 0;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> draining{false};  // drain(): no new requests, the running ones finish
  std::mutex mu;
  std::condition_variable idle;
  std::set<int> conns;  // open connection fds
  std::set<int> busy;   // of those, the ones whose request is being answered
  int active = 0;       // connection threads alive

  void stop_accepting();

  void accept_loop();
  void serve(tcp::socket sock);
  void serve_requests(k8s::timed_socket& ts, int fd);
};

namespace {

using string_response = http::response<http::string_body>;

void send(k8s::timed_socket& ts, int code, const std::string& type, std::string body, bool keep,
          beast::error_code& ec) {
  string_response res{static_cast<http::status>(code), 11};
  res.set(http::field::content_type, type);
  res.keep_alive(keep);
  res.body() = std::move(body);
  res.prepare_payload();
  http::write(ts, res, ec);
}

std::string error_json(const std::string& message) {
  return "{\"error\":{\"message\":\"" + message + "\",\"type\":\"invalid_request_error\"}}";
}

// The reply a handler fills; streams go straight to the socket as chunks.
class socket_reply : public http_reply {
 public:
  explicit socket_reply(k8s::timed_socket& ts) : ts_(ts) {}
  bool start_stream(int code, const std::string& type) override {
    if (streaming_) return !broken_;
    streaming_ = true;
    http::response<http::empty_body> res{static_cast<http::status>(code), 11};
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-cache");
    res.chunked(true);
    res.keep_alive(false);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(ts_, sr, ec);
    broken_ = static_cast<bool>(ec);
    return !broken_;
  }
  bool write_chunk(const std::string& data) override {
    if (!streaming_ || broken_) return false;
    if (data.empty()) return true;
    beast::error_code ec;
    net::write(ts_, http::make_chunk(net::buffer(data)), ec);
    broken_ = static_cast<bool>(ec);
    return !broken_;
  }
  void finish_stream() {
    if (!streaming_ || broken_) return;
    beast::error_code ec;
    net::write(ts_, http::make_chunk_last(), ec);
  }
  bool streaming() const { return streaming_; }

 private:
  k8s::timed_socket& ts_;
  bool streaming_ = false, broken_ = false;
};

}  // namespace

void http_server::impl::serve_requests(k8s::timed_socket& ts, int fd) {
  using ms = std::chrono::milliseconds;
  beast::flat_buffer buf;
  while (!stopping.load() && !draining.load()) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(opts.max_body_bytes);
    beast::error_code ec;
    switch (k8s::read_http_request(ts, ts, buf, parser, ms(opts.idle_timeout_ms),
                                   ms(opts.request_timeout_ms))) {
      case k8s::http_read::ok:
        break;
      case k8s::http_read::timed_out_partial:
        send(ts, 408, "application/json", error_json("the request took too long to arrive"), false,
             ec);
        return;
      case k8s::http_read::too_large:
        send(ts, 413, "application/json",
             error_json("the body is over " + std::to_string(opts.max_body_bytes) + " bytes"),
             false, ec);
        return;
      case k8s::http_read::malformed:
        send(ts, 400, "application/json", error_json("malformed HTTP request"), false, ec);
        return;
      default:
        return;  // closed, or idle past the keep-alive timeout
    }
    {  // answering: a drain waits for it (one that began meanwhile closed this idle socket)
      std::lock_guard lock(mu);
      if (draining.load()) return;
      busy.insert(fd);
    }
    struct done_answering {
      impl* self;
      int fd;
      ~done_answering() {
        std::lock_guard lock(self->mu);
        self->busy.erase(fd);
        self->idle.notify_all();
      }
    } answering{this, fd};
    auto& req = parser.get();
    http_call call;
    call.method = std::string(req.method_string());
    call.target = std::string(req.target());
    auto q = call.target.find('?');
    call.path = call.target.substr(0, q);
    call.query = q == std::string::npos ? "" : call.target.substr(q + 1);
    call.content_type = std::string(req[http::field::content_type]);
    call.body = std::move(req.body());
    socket_reply reply(ts);
    try {
      handler(call, reply);
    } catch (const std::exception& e) {
      log_error(logger("http"), "handler failed", {{"target", call.target}, {"error", e.what()}});
      if (!reply.streaming()) {
        reply.status = 500;
        reply.content_type = "application/json";
        reply.body = "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}";
      }
    }
    if (reply.streaming()) {
      reply.finish_stream();
      return;
    }
    bool keep = req.keep_alive() && !draining.load();
    send(ts, reply.status, reply.content_type, std::move(reply.body), keep, ec);
    if (ec || !keep) return;
  }
}

void http_server::impl::serve(tcp::socket sock) {
  int fd = sock.native_handle();
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  k8s::timed_socket ts(sock);
  ts.set_write_timeout(std::chrono::milliseconds(opts.write_timeout_ms));
  serve_requests(ts, fd);
  beast::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  std::lock_guard lock(mu);
  conns.erase(fd);
  sock.close(ignored);
  --active;
  idle.notify_all();
}

void http_server::impl::accept_loop() {
  while (!stopping.load() && !draining.load()) {
    tcp::socket sock(io);
    beast::error_code ec;
    acceptor->accept(sock, ec);
    if (stopping.load() || draining.load()) break;
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::unique_lock lock(mu);
    if (active >= opts.max_connections) {
      lock.unlock();
      k8s::timed_socket ts(sock);
      ts.set_write_timeout(std::chrono::milliseconds(1000));
      send(ts, 503, "application/json", error_json("too many connections"), false, ec);
      continue;
    }
    ++active;
    conns.insert(sock.native_handle());
    lock.unlock();
    std::thread([this, s = std::move(sock)]() mutable { serve(std::move(s)); }).detach();
  }
}

result<std::unique_ptr<http_server>> http_server::start(const http_server_options& o,
                                                        http_handler handler) {
  auto p = std::make_unique<impl>();
  p->opts = o;
  p->handler = std::move(handler);
  KAITO_ASSIGN_OR_RETURN(p->acceptor, k8s::listen_tcp(p->io, o.host, o.port));
  p->port = p->acceptor->local_endpoint().port();
  impl* raw = p.get();
  raw->accept_thread = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<http_server>(new http_server(std::move(p)));
}

http_server::http_server(std::unique_ptr<impl> p) : p_(std::move(p)) {}

http_server::~http_server() {
  stop();
}

uint16_t http_server::port() const {
  return p_->port;
}

void http_server::impl::stop_accepting() {
  if (acceptor) ::shutdown(acceptor->native_handle(), SHUT_RDWR);
  if (accept_thread.joinable()) accept_thread.join();
  beast::error_code ec;
  if (acceptor) acceptor->close(ec);
}

bool http_server::drain(std::chrono::milliseconds budget) {
  if (p_->stopping.load()) return false;
  if (!p_->draining.exchange(true)) p_->stop_accepting();
  std::unique_lock lock(p_->mu);
  for (int fd : p_->conns)  // idle keep-alive connections: closed now
    if (!p_->busy.count(fd)) ::shutdown(fd, SHUT_RDWR);
  return p_->idle.wait_for(lock, budget, [&] { return p_->busy.empty(); });
}

void http_server::stop() {
  if (p_->stopping.exchange(true)) return;
  if (!p_->draining.load()) p_->stop_accepting();
  std::unique_lock lock(p_->mu);
  for (int fd : p_->conns) ::shutdown(fd, SHUT_RDWR);
  p_->idle.wait(lock, [&] { return p_->active == 0; });
}

}  // namespace kaito::actors
