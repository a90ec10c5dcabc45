// One proxied HTTP exchange; see proxy_forward.h.
#include "k8s/apiserver/proxy_forward.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "k8s/apiserver/errors.h"
#include "k8s/client/timed_socket.h"

namespace kaito::k8s::apiserver {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 5s;
constexpr auto kBackendIdle = 10min;  // CPU generation is slow
constexpr auto kCheckEvery = 1s;      // how often a wait looks at server stop and the client

struct backend {
  net::io_context io;
  beast::tcp_stream stream{io};
  std::optional<timed_socket> ts;
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::buffer_body>> parser;
  char chunk[16 * 1024];
};

bool is_hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "upgrade", "te",
                             "trailer", "proxy-connection"})
    if (beast::iequals(name, h)) return true;
  return name.size() > 6 && beast::iequals(name.substr(0, 6), "proxy-");
}

// The header names listed by the message's Connection headers (hop-by-hop too).
template <class Fields>
std::vector<std::string> connection_tokens(const Fields& f) {
  std::vector<std::string> out;
  for (const auto& h : f) {
    if (!beast::iequals(h.name_string(), "connection")) continue;
    for (auto tok : http::token_list(h.value())) out.emplace_back(tok.data(), tok.size());
  }
  return out;
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
  for (const auto& n : names)
    if (beast::iequals(n, name)) return true;
  return false;
}

// Go's wording for a network error ("connection refused", "i/o timeout").
std::string go_error(const beast::error_code& ec) {
  if (ec == beast::error::timeout || ec == net::error::timed_out) return "i/o timeout";
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

// ... and for a failed dial ("connect: connection refused", "i/o timeout").
std::string dial_error(const beast::error_code& ec) {
  std::string m = go_error(ec);
  return m == "i/o timeout" ? m : "connect: " + m;
}

http::request<http::string_body> outgoing(const api_request& req, const std::string& host,
                                          const std::string& target) {
  http::request<http::string_body> out;
  out.version(11);
  out.method_string(req.method);
  out.target(target);
  std::vector<std::string> hop;
  for (const auto& [k, v] : req.headers)
    if (beast::iequals(k, "connection"))
      for (auto tok : http::token_list(v)) hop.emplace_back(tok.data(), tok.size());
  std::string forwarded_for;
  for (const auto& [k, v] : req.headers) {
    if (beast::iequals(k, "x-forwarded-for")) {
      forwarded_for += (forwarded_for.empty() ? "" : ", ") + v;
      continue;
    }
    if (is_hop_by_hop(k) || listed(hop, k) || beast::iequals(k, "authorization") ||
        beast::iequals(k, "host") || beast::iequals(k, "content-length") ||
        beast::iequals(k, "expect"))
      continue;
    out.insert(k, v);
  }
  if (!req.remote_addr.empty())
    forwarded_for += (forwarded_for.empty() ? "" : ", ") + req.remote_addr;
  if (!forwarded_for.empty()) out.set("X-Forwarded-For", forwarded_for);
  out.set(http::field::host, host);
  out.keep_alive(false);
  out.body() = req.body;
  out.prepare_payload();
  return out;
}

// Reads the final response header (skipping 100 Continue and other informational answers).
beast::error_code read_head(api_context& ctx, backend& b, bool head_request, int client_fd) {
  auto start = steady::now();
  for (int informational = 0; informational < 8; ++informational) {
    b.parser.emplace();
    b.parser->body_limit(boost::none);
    if (head_request) b.parser->skip(true);
    beast::error_code ec;
    do {
      b.ts->arm_read(kCheckEvery);
      http::read_header(*b.ts, b.buf, *b.parser, ec);
      if (ec == net::error::timed_out && client_gone(client_fd))
        return net::error::connection_aborted;  // nobody to answer: drop the backend
    } while (ec == net::error::timed_out && !ctx.stopping.load() &&
             steady::now() - start < kBackendIdle);
    if (ec) return ec;
    int code = static_cast<int>(b.parser->get().result_int());
    if (code >= 200 || code == 101) return ec;
  }
  return http::error::bad_status;
}

// Relays the body as it arrives until it ends, the backend goes quiet for kBackendIdle or breaks,
// or the client leaves.
void relay(backend& b, stream_writer& out) {
  auto& p = *b.parser;
  auto last = steady::now();
  const int fd = b.stream.socket().native_handle();
  while (!p.is_done()) {
    p.get().body().data = b.chunk;
    p.get().body().size = sizeof b.chunk;
    b.ts->arm_read(0ms);
    beast::error_code ec;
    http::read_some(*b.ts, b.buf, p, ec);
    size_t n = sizeof b.chunk - p.get().body().size;
    if (n > 0) {
      if (!out.write(std::string_view(b.chunk, n))) return;
      last = steady::now();
    }
    if (ec == http::error::need_buffer) continue;
    if (ec != net::error::timed_out) {
      if (ec) return out.abort();  // broke off mid-body: the client must not see an ending
      continue;
    }
    if (steady::now() - last > kBackendIdle) return out.abort();
    if (!out.wait(fd, static_cast<int>(std::chrono::milliseconds(kCheckEvery).count()))) return;
  }
}

}  // namespace

std::string join_host_port(const std::string& ip, uint16_t port) {
  bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::string escape_proxy_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) ||
        std::string_view("-_.~$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

api_response forward_to(api_context& ctx, const api_request& req, const proxy_target& target,
                        const std::string& path) {
  const std::string host = join_host_port(target.ip, target.port);
  const std::string reach = "error trying to reach service: ";
  beast::error_code ec;
  auto addr = net::ip::make_address(target.ip, ec);
  if (ec)
    return error_response(503, "ServiceUnavailable",
                          reach + "dial tcp " + host + ": invalid IP address");
  if (!ctx.opts.proxy_dial)
    return error_response(503, "ServiceUnavailable",
                          reach + "dial tcp " + host + ": dialing is disabled on this server");
  auto b = std::make_shared<backend>();
  ec = net::error::would_block;
  b->stream.expires_after(kConnectTimeout);
  b->stream.async_connect(tcp::endpoint(addr, target.port), [&ec](beast::error_code e) { ec = e; });
  b->io.run();
  b->stream.expires_never();
  if (ec)
    return error_response(503, "ServiceUnavailable",
                          reach + "dial tcp " + host + ": " + dial_error(ec));
  b->ts.emplace(b->stream.socket());
  std::string tgt = escape_proxy_path(path.empty() ? "/" : path);
  if (!req.raw_query.empty()) tgt += "?" + req.raw_query;
  auto out = outgoing(req, host, tgt);
  http::write(*b->ts, out, ec);
  if (ec)
    return error_response(503, "ServiceUnavailable",
                          reach + "write tcp " + host + ": " + go_error(ec));
  ec = read_head(ctx, *b, req.method == "HEAD", req.client_fd);
  if (ec == net::error::connection_aborted)
    return error_response(502, "BadGateway", "the client left before " + host + " answered");
  if (ec == net::error::timed_out)
    return error_response(504, "Timeout",
                          "the backend " + host + " sent no response header within " +
                              std::to_string(kBackendIdle / 1s) + " s");
  if (ec == http::error::end_of_stream)
    return error_response(502, "BadGateway",
                          "the backend " + host + " closed the connection without a response");
  if (ec)
    return error_response(502, "BadGateway",
                          "malformed response from the backend " + host + ": " + ec.message());
  auto& h = b->parser->get();
  if (h.result_int() == 101)
    return error_response(502, "BadGateway",
                          "the backend " + host + " switched protocols; upgrades are not proxied");
  api_response resp;
  resp.code = static_cast<int>(h.result_int());
  resp.content_type = std::string(h[http::field::content_type]);
  auto hop = connection_tokens(h);
  for (const auto& f : h) {
    std::string_view name = f.name_string();
    if (is_hop_by_hop(name) || listed(hop, name) || beast::iequals(name, "content-length") ||
        beast::iequals(name, "content-type"))
      continue;
    resp.headers.emplace_back(std::string(name), std::string(f.value()));
  }
  if (b->parser->is_done()) return resp;  // no body: HEAD, 204, 304, Content-Length: 0
  resp.stream = [b](stream_writer& w) { relay(*b, w); };
  return resp;
}

}  // namespace kaito::k8s::apiserver
