// Synchronous HTTP(S) over Boost.Beast with deadlines; see connection.h. Every operation is an
// async operation run to completion on the connection's own io_context, so tcp_stream's expiry
// gives each one a deadline and cancel() can post a close from another thread.
#include "k8s/client/connection.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace kaito::k8s {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

result<endpoint> endpoint_from(const rest_config& cfg) {
  endpoint ep;
  std::string rest;
  if (cfg.server.rfind("https://", 0) == 0) {
    rest = cfg.server.substr(8);
  } else if (cfg.server.rfind("http://", 0) == 0) {
    ep.tls = false;
    rest = cfg.server.substr(7);
  } else {
    return invalid_argument("must be an http:// or https:// URL", "server");
  }
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return invalid_argument("bad IPv6 host", "server");
    ep.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    ep.port = rest.rfind(':', 0) == 0 ? rest.substr(1) : "";
  } else {
    size_t colon = rest.rfind(':');
    ep.host = rest.substr(0, colon);
    ep.port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  if (ep.host.empty()) return invalid_argument("missing host", "server");
  if (ep.port.empty()) ep.port = ep.tls ? "443" : "80";
  ep.ca_pem = cfg.ca_pem;
  ep.insecure = cfg.insecure_skip_tls_verify;
  return ep;
}

struct connection::impl {
  net::io_context io;
  std::optional<ssl::context> ctx;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  std::unique_ptr<beast::tcp_stream> plain;
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::buffer_body>> stream_parser;
  char chunk[16384];

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs one async operation to completion under a deadline.
  template <class Start>
  beast::error_code run(Start&& start, std::chrono::milliseconds timeout) {
    tcp().expires_after(timeout);
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }
  template <class F>
  auto with_stream(F&& f) {
    return tls ? f(*tls) : f(*plain);
  }
};

static status net_error(const char* what, const beast::error_code& ec) {
  if (ec == beast::error::timeout)
    return status(status_code::deadline_exceeded, std::string(what) + ": timed out");
  return status(status_code::unavailable, std::string(what) + ": " + ec.message());
}

connection::connection(std::unique_ptr<impl> p) : p_(std::move(p)) {}
connection::~connection() {
  beast::error_code ec;
  p_->tcp().socket().close(ec);
}

result<std::unique_ptr<connection>> connection::open(const endpoint& ep,
                                                     std::chrono::milliseconds timeout) {
  auto p = std::make_unique<impl>();
  if (ep.tls) {
    p->ctx.emplace(ssl::context::tls_client);
    if (ep.insecure) {
      p->ctx->set_verify_mode(ssl::verify_none);
    } else {
      beast::error_code ec;
      p->ctx->add_certificate_authority(net::buffer(ep.ca_pem), ec);
      if (ec) return invalid_argument("cannot load the CA: " + ec.message(), "ca");
      p->ctx->set_verify_mode(ssl::verify_peer);
    }
    p->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(p->io, *p->ctx);
    if (!ep.insecure) p->tls->set_verify_callback(ssl::host_name_verification(ep.host));
    beast::error_code addr_ec;
    net::ip::make_address(ep.host, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(p->tls->native_handle(), ep.host.c_str());
  } else {
    p->plain = std::make_unique<beast::tcp_stream>(p->io);
  }
  tcp::resolver resolver(p->io);
  beast::error_code ec;
  auto results = resolver.resolve(ep.host, ep.port, ec);
  if (ec) return net_error("resolve", ec);
  ec = p->run([&](auto h) { p->tcp().async_connect(results, h); }, timeout);
  if (ec) return net_error("connect", ec);
  p->tcp().socket().set_option(tcp::no_delay(true), ec);
  if (p->tls) {
    ec = p->run([&](auto h) { p->tls->async_handshake(ssl::stream_base::client, h); }, timeout);
    if (ec) return net_error("TLS handshake", ec);
  }
  return std::unique_ptr<connection>(new connection(std::move(p)));
}

result<http_reply> connection::round_trip(http_request& req, std::chrono::milliseconds timeout) {
  if (cancelled_) return status(status_code::unavailable, "cancelled");
  req.prepare_payload();
  auto ec = p_->run(
      [&](auto h) { p_->with_stream([&](auto& s) { http::async_write(s, req, h); }); }, timeout);
  if (ec) return net_error("write", ec);
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u * 1024 * 1024);
  ec = p_->run(
      [&](auto h) { p_->with_stream([&](auto& s) { http::async_read(s, p_->buf, parser, h); }); },
      timeout);
  if (ec) return net_error("read", ec);
  auto& res = parser.get();
  return http_reply{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
                    std::move(res.body()), res.keep_alive()};
}

result<http_reply> connection::start_stream(http_request& req, std::chrono::milliseconds timeout) {
  if (cancelled_) return status(status_code::unavailable, "cancelled");
  req.prepare_payload();
  auto ec = p_->run(
      [&](auto h) { p_->with_stream([&](auto& s) { http::async_write(s, req, h); }); }, timeout);
  if (ec) return net_error("write", ec);
  auto& sp = p_->stream_parser.emplace();
  sp.body_limit(boost::none);
  ec = p_->run(
      [&](auto h) {
        p_->with_stream([&](auto& s) { http::async_read_header(s, p_->buf, sp, h); });
      },
      timeout);
  if (ec) return net_error("read header", ec);
  http_reply r;
  r.code = static_cast<int>(sp.get().result_int());
  r.content_type = std::string(sp.get()[http::field::content_type]);
  if (r.code / 100 != 2) {
    while (true) {
      auto more = read_some(r.body, timeout);
      if (!more.ok() || !*more) break;
    }
  }
  return r;
}

result<bool> connection::read_some(std::string& out, std::chrono::milliseconds timeout) {
  if (cancelled_) return status(status_code::unavailable, "cancelled");
  auto& sp = *p_->stream_parser;
  if (sp.is_done()) return false;
  sp.get().body().data = p_->chunk;
  sp.get().body().size = sizeof p_->chunk;
  auto ec = p_->run(
      [&](auto h) { p_->with_stream([&](auto& s) { http::async_read_some(s, p_->buf, sp, h); }); },
      timeout);
  if (ec == http::error::need_buffer) ec = {};
  out.append(p_->chunk, sizeof p_->chunk - sp.get().body().size);
  if (ec == http::error::end_of_stream || ec == net::error::eof) return false;
  if (ec) return net_error(cancelled_ ? "cancelled" : "read", ec);
  return !sp.is_done();
}

void connection::cancel() {
  cancelled_ = true;
  net::post(p_->io, [p = p_.get()] {
    beast::error_code ec;
    p->tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    p->tcp().socket().close(ec);
  });
}

}  // namespace kaito::k8s
