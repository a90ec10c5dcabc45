// http_server: whole and streamed (chunked) replies, keep-alive, 413 past the body limit, 400 for
// a malformed request, 408 for a request that stalls, a handler that throws (500, the server
// lives on), 503 past max_connections, and stop() with a client still connected.
#include "actors/http_server.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kaito::actors {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct client {
  net::io_context io;
  tcp::socket sock{io};
  explicit client(uint16_t port) { sock.connect({net::ip::make_address("127.0.0.1"), port}); }
  http::response<http::string_body> call(http::verb v, const std::string& target,
                                         const std::string& body = "", bool keep = true) {
    http::request<http::string_body> req{v, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep);
    req.body() = body;
    req.prepare_payload();
    http::write(sock, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    return res;
  }
  std::string raw(const std::string& bytes) {
    net::write(sock, net::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    char b[4096];
    for (;;) {
      size_t n = sock.read_some(net::buffer(b), ec);
      if (ec) break;
      out.append(b, n);
    }
    return out;
  }
};

void handler(const http_call& c, http_reply& r) {
  if (c.path == "/echo") {
    r.body = c.method + " " + c.query + " " + c.body;
  } else if (c.path == "/stream") {
    r.start_stream(200, "text/event-stream");
    for (int i = 0; i < 3; ++i) r.write_chunk("data: " + std::to_string(i) + "\n\n");
  } else if (c.path == "/throw") {
    throw std::runtime_error("boom");
  } else if (c.path == "/slow") {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r.body = "late";
  } else if (c.path == "/slower") {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    r.body = "later";
  } else {
    r.status = 404;
    r.body = "{}";
  }
}

std::unique_ptr<http_server> start(http_server_options o = {}) {
  auto s = http_server::start(o, handler);
  EXPECT_TRUE(s.ok()) << s.error().to_string();
  return std::move(*s);
}

TEST(HttpServer, WholeAndStreamedRepliesOnOneKeepAliveConnection) {
  auto s = start();
  client c(s->port());
  auto r = c.call(http::verb::post, "/echo?x=1", "hello");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "POST x=1 hello");
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_EQ(c.call(http::verb::get, "/missing").result_int(), 404);  // same connection
  auto st = c.call(http::verb::get, "/stream");
  EXPECT_EQ(st[http::field::content_type], "text/event-stream");
  EXPECT_EQ(st.body(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

TEST(HttpServer, LimitsAndBadRequests) {
  http_server_options o;
  o.max_body_bytes = 16;
  o.request_timeout_ms = 300;
  auto s = start(o);
  {
    client c(s->port());
    EXPECT_EQ(c.call(http::verb::post, "/echo", std::string(100, 'x')).result_int(), 413);
  }
  {
    client c(s->port());
    EXPECT_NE(c.raw("NONSENSE\r\n\r\n").find("400"), std::string::npos);
  }
  {
    client c(s->port());  // half a request, then nothing: 408 after the request timeout
    EXPECT_NE(c.raw("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").find("408"),
              std::string::npos);
  }
  {
    client c(s->port());
    auto r = c.call(http::verb::get, "/throw");
    EXPECT_EQ(r.result_int(), 500);
    EXPECT_EQ(c.call(http::verb::get, "/echo").result_int(), 200);  // still serving
  }
}

TEST(HttpServer, TooManyConnectionsAndStop) {
  http_server_options o;
  o.max_connections = 1;
  auto s = start(o);
  client first(s->port());
  EXPECT_EQ(first.call(http::verb::get, "/echo").result_int(), 200);  // holds the one slot
  client second(s->port());
  EXPECT_NE(second.raw("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").find("503"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  s->stop();  // `first` is still connected (keep-alive): stop closes it
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto again = http_server::start(http_server_options{}, handler);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(http_server::start(
                   [&] {
                     http_server_options busy;
                     busy.port = (*again)->port();
                     return busy;
                   }(),
                   handler)
                   .ok());  // the port is taken: an error, not a crash
}

// drain(): the listener and idle keep-alive connections close at once; a request being answered
// finishes (its connection closed after it), and drain returns when none is left, or false at
// the budget.
TEST(HttpServer, DrainLetsTheRequestsInProgressFinish) {
  auto s = start();
  const uint16_t port = s->port();
  client idle(port);
  EXPECT_EQ(idle.call(http::verb::get, "/echo").result_int(), 200);  // kept alive, now idle
  client busy(port);
  http::response<http::string_body> late;
  std::string failed;
  std::thread t([&] {
    try {
      late = busy.call(http::verb::get, "/slow");
    } catch (const std::exception& e) {
      failed = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // /slow is being answered
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(s->drain(std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  t.join();
  EXPECT_EQ(failed, "");
  EXPECT_EQ(late.result_int(), 200);
  EXPECT_EQ(late.body(), "late");
  EXPECT_FALSE(late.keep_alive());
  EXPECT_EQ(idle.raw("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"), "");  // closed
  net::io_context io;
  tcp::socket fresh(io);
  boost::system::error_code ec;
  fresh.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_TRUE(ec) << "the listener still takes connections";
  EXPECT_TRUE(s->drain(std::chrono::seconds(1)));  // again: only waits, and none is busy
  s->stop();
  EXPECT_FALSE(s->drain(std::chrono::seconds(1)));  // stopped

  auto s2 = start();
  client slower(s2->port());
  std::thread t2([&] {
    try {
      (void)slower.call(http::verb::get, "/slower");
    } catch (const std::exception&) {  // stop() may close it before the answer
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(s2->drain(std::chrono::milliseconds(200)));  // still answering at the budget
  s2->stop();
  t2.join();
}

}  // namespace
}  // namespace kaito::actors
