// A small blocking Boost.Beast client for the server tests: one request per connection, and watch
// streams read line by line with a deadline.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::apiserver::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct reply {
  int code = 0;
  std::string content_type;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

struct request_spec {
  std::string method = "GET";
  std::string target;
  std::string body;
  std::string content_type = "application/json";
  std::string accept = "application/json";
  std::string token;  // "" = no Authorization header
};

inline reply send_request(uint16_t port, const request_spec& r) {
  net::io_context io;
  tcp::socket s(io);
  s.connect({net::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::string_to_verb(r.method), r.target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::accept, r.accept);
  if (!r.body.empty()) req.set(http::field::content_type, r.content_type);
  if (!r.token.empty()) req.set(http::field::authorization, "Bearer " + r.token);
  req.body() = r.body;
  req.prepare_payload();
  beast::error_code ec;
  http::write(s, req, ec);
  if (ec) return {};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  http::read(s, buf, p, ec);
  if (ec) return {};
  auto& res = p.get();
  return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
          res.body()};
}

// An open watch: lines() returns complete event lines as they arrive.
class watch_stream {
 public:
  watch_stream(uint16_t port, const std::string& target, const std::string& token,
               const std::string& accept = "application/json", int rcvbuf = 0)
      : s_(io_) {
    s_.open(tcp::v4());
    if (rcvbuf > 0) ::setsockopt(s_.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    s_.connect({net::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, accept);
    req.set(http::field::authorization, "Bearer " + token);
    http::write(s_, req);
    parser_.body_limit(boost::none);
    on_body_ = [this](std::uint64_t, beast::string_view body, beast::error_code&) {
      pending_.append(body.data(), body.size());
      return body.size();
    };
    parser_.on_chunk_body(on_body_);
    http::read_header(s_, buf_, parser_);
    code_ = parser_.get().result_int();
    s_.non_blocking(true);
  }
  int code() const { return code_; }
  int fd() { return s_.native_handle(); }

  // Reads until `n` lines have arrived in total, the stream ends, or `timeout` passes.
  std::vector<nlohmann::json> read_lines(
      size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (lines_.size() < n && !done_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      // Asio's blocking reads ignore SO_RCVTIMEO, so wait for readability first.
      pollfd pfd{s_.native_handle(), POLLIN, 0};
      if (buf_.size() == 0 && ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      beast::error_code ec;
      http::read_some(s_, buf_, parser_, ec);
      split();
      if (parser_.is_done() || (ec && ec != net::error::would_block && ec != net::error::try_again))
        done_ = true;
    }
    return lines_;
  }
  bool ended() const { return done_; }
  void close() {
    beast::error_code ec;
    s_.shutdown(tcp::socket::shutdown_both, ec);
    s_.close(ec);
  }

 private:
  void split() {
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      lines_.push_back(nlohmann::json::parse(pending_.substr(0, nl), nullptr, false));
      pending_.erase(0, nl + 1);
    }
  }
  net::io_context io_;
  tcp::socket s_;
  beast::flat_buffer buf_;
  http::response_parser<http::empty_body> parser_;
  std::function<std::size_t(std::uint64_t, beast::string_view, beast::error_code&)> on_body_;
  std::string pending_;
  std::vector<nlohmann::json> lines_;
  int code_ = 0;
  bool done_ = false;
};

}  // namespace kaito::k8s::apiserver::testing
