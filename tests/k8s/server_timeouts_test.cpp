// Slow, idle and excess clients against the API server over raw sockets: a half-sent request is
// cut off after the request timeout (408) while other clients are served; an idle keep-alive
// connection is closed; the connection cap holds and frees up; watches outlive the request timeout
// but a watcher that stops reading is dropped after the write timeout.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <thread>

#include "k8s/apiserver/server.h"
#include "tests/k8s/http_test_client.h"

namespace kaito::k8s::apiserver {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using testing::request_spec;
using testing::watch_stream;

constexpr const char* kToken = "test-token-timeouts";
constexpr const char* kCms = "/api/v1/namespaces/default/configmaps";

// A raw TCP connection: send bytes, read whatever comes until EOF or a deadline.
class raw_conn {
 public:
  explicit raw_conn(uint16_t port, int rcvbuf = 0) : s_(io_) {
    s_.open(testing::tcp::v4());
    if (rcvbuf > 0) ::setsockopt(s_.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    s_.connect({testing::net::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& data) {
    testing::beast::error_code ec;
    testing::net::write(s_, testing::net::buffer(data), ec);
  }
  // Reads until the peer closes (returns true) or `timeout` passes (false); data lands in got().
  bool read_until_closed(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() <= 0) return false;
      pollfd pfd{s_.native_handle(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
      ssize_t k = ::recv(s_.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (k <= 0) return true;  // EOF or reset: closed
      got_.append(buf, static_cast<size_t>(k));
    }
  }
  // Reads until `needle` shows up or `timeout` passes.
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    char buf[4096];
    while (got_.find(needle) == std::string::npos) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      pollfd pfd{s_.native_handle(), POLLIN, 0};
      if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
      ssize_t k = ::recv(s_.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (k <= 0) return false;
      got_.append(buf, static_cast<size_t>(k));
    }
    return true;
  }
  const std::string& got() const { return got_; }

 private:
  testing::net::io_context io_;
  testing::tcp::socket s_;
  std::string got_;
};

class ServerTimeoutsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kaito_timeouts_XXXXXX";
    home_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  void start(server_options o) {
    o.home = home_;
    o.token = kToken;
    auto s = api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
  }
  int version_code() {
    request_spec r;
    r.target = "/version";
    return testing::send_request(srv_->port(), r).code;
  }
  std::string get_version_request() const {
    return "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  }
  std::string home_;
  std::unique_ptr<api_server> srv_;
};

TEST_F(ServerTimeoutsTest, HalfSentRequestIsCutOffWhileOthersAreServed) {
  server_options o;
  o.request_timeout_ms = 1000;
  o.idle_timeout_ms = 5000;
  start(o);
  raw_conn slow(srv_->port());
  auto t0 = clock_type::now();
  slow.send("GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: app");  // ...and stalls
  for (int i = 0; i < 5; ++i) {
    auto t = clock_type::now();
    EXPECT_EQ(version_code(), 200);
    EXPECT_LT(clock_type::now() - t, std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(slow.read_until_closed(std::chrono::seconds(5)));
  auto took = clock_type::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_NE(slow.got().find("HTTP/1.1 408"), std::string::npos) << slow.got();
  EXPECT_NE(slow.got().find("\"reason\":\"Timeout\""), std::string::npos) << slow.got();

  // A body that stalls half way is cut off the same way.
  raw_conn slow_body(srv_->port());
  slow_body.send(std::string("POST ") + kCms + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 kToken + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"me");
  ASSERT_TRUE(slow_body.read_until_closed(std::chrono::seconds(5)));
  EXPECT_NE(slow_body.got().find("HTTP/1.1 408"), std::string::npos) << slow_body.got();
  EXPECT_EQ(version_code(), 200);
}

TEST_F(ServerTimeoutsTest, IdleKeepAliveConnectionIsClosed) {
  server_options o;
  o.request_timeout_ms = 5000;
  o.idle_timeout_ms = 800;
  start(o);
  raw_conn c(srv_->port());
  c.send(get_version_request());
  ASSERT_TRUE(c.read_until("\"minor\"", std::chrono::seconds(3)));
  // Kept alive: a second request on the same connection is served.
  c.send(get_version_request());
  auto t0 = clock_type::now();
  ASSERT_TRUE(c.read_until_closed(std::chrono::seconds(5)));
  auto idle = clock_type::now() - t0;
  EXPECT_GE(idle, std::chrono::milliseconds(700));
  EXPECT_LT(idle, std::chrono::milliseconds(2500));
  size_t first = c.got().find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(c.got().find("HTTP/1.1 200", first + 1), std::string::npos);
  EXPECT_EQ(c.got().find("HTTP/1.1 408"), std::string::npos) << "an idle close sends nothing";
}

TEST_F(ServerTimeoutsTest, ConnectionCapHolds) {
  server_options o;
  o.max_connections = 3;
  start(o);
  std::vector<std::unique_ptr<raw_conn>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<raw_conn>(srv_->port()));
    held.back()->send(get_version_request());  // served and kept alive: the server holds it
    ASSERT_TRUE(held.back()->read_until("\"minor\"", std::chrono::seconds(3)));
  }
  raw_conn extra(srv_->port());
  extra.send(get_version_request());
  ASSERT_TRUE(extra.read_until_closed(std::chrono::seconds(3)));
  EXPECT_EQ(extra.got().find("HTTP/1.1 200"), std::string::npos) << extra.got();
  if (!extra.got().empty())
    EXPECT_NE(extra.got().find("HTTP/1.1 503"), std::string::npos) << extra.got();
  held.pop_back();  // one slot frees up once the server sees the close
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    raw_conn again(srv_->port());
    again.send(get_version_request());
    served = again.read_until("\"minor\"", std::chrono::seconds(2));
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(ServerTimeoutsTest, WatchOutlivesRequestTimeoutButStalledWatcherIsDropped) {
  server_options o;
  o.request_timeout_ms = 500;
  o.idle_timeout_ms = 500;
  o.write_timeout_ms = 500;
  start(o);
  auto create_cm = [&](const std::string& name, const std::string& data) {
    request_spec r;
    r.method = "POST";
    r.target = kCms;
    r.token = kToken;
    r.body = json({{"metadata", {{"name", name}}}, {"data", {{"k", data}}}}).dump();
    return testing::send_request(srv_->port(), r).code;
  };
  {
    watch_stream w(srv_->port(), std::string(kCms) + "?watch=true", kToken);
    ASSERT_EQ(w.code(), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 3x the request timeout
    ASSERT_EQ(create_cm("late", "v"), 201);
    auto lines = w.read_lines(1, std::chrono::seconds(3));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["type"], "ADDED");
    EXPECT_EQ(lines[0]["object"]["metadata"]["name"], "late");
  }
  for (int i = 0; i < 200 && srv_->db().watcher_count() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(srv_->db().watcher_count(), 0u);

  // A watcher that stays connected but never reads: its socket fills, the write times out.
  watch_stream stalled(srv_->port(), std::string(kCms) + "?watch=true", kToken, "application/json",
                       4096);
  for (int i = 0; i < 100 && srv_->db().watcher_count() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // More than the kernel's socket buffers on both ends can hold (loopback autotunes to MBs).
  std::string big(256 * 1024, 'x');
  for (int i = 0; i < 40; ++i) ASSERT_EQ(create_cm("big" + std::to_string(i), big), 201);
  for (int i = 0; i < 400 && srv_->db().watcher_count() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(srv_->db().watcher_count(), 0u);
}

}  // namespace
}  // namespace kaito::k8s::apiserver
