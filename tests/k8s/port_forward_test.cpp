// The pods/NAME/portforward subresource end to end, driven by the real kubectl (skipped when
// kubectl is not on PATH): the API server over TLS on an ephemeral port, a small HTTP backend on
// another standing in for a pod whose container port 5000 is shifted there by
// kaito.sh/host-port-offset. `kubectl port-forward pod/p` and `svc/s` (service port 80 ->
// targetPort 5000), over the websocket tunnel (kubectl's default) and over plain SPDY
// (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), carry several HTTP exchanges, one a 1 MiB body echoed
// back; a pod whose port refuses connections makes kubectl print the kubelet's error. Without
// kubectl: the Status answers of the handler (no upgrade, no pod, no IP), discovery, and the SPDY
// frame codec and websocket framing.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "k8s/apiserver/port_forward_session.h"
#include "k8s/apiserver/server.h"
#include "k8s/apiserver/spdy_frames.h"
#include "k8s/apiserver/ws_tunnel.h"
#include "tests/k8s/http_test_client.h"

namespace kaito::k8s::apiserver {
namespace {

namespace fs = std::filesystem;
namespace net = testing::net;
namespace beast = testing::beast;
namespace http = testing::http;
using tcp = testing::tcp;
using namespace std::chrono_literals;

constexpr const char* kToken = "test-token-portforward";

bool have_kubectl() {
  return std::system("command -v kubectl >/dev/null 2>&1") == 0;
}

// HTTP/1.1 backend on 127.0.0.1:0, a thread per connection: POST /echo answers the body, anything
// else "hello from the pod".
class backend {
 public:
  backend() : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      for (;;) {
        auto s = std::make_shared<tcp::socket>(io_);
        beast::error_code ec;
        acceptor_.accept(*s, ec);
        if (ec) return;
        conns_.emplace_back([s] { serve(*s); });
      }
    });
  }
  ~backend() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return port_; }

 private:
  static void serve(tcp::socket& s) {
    beast::flat_buffer buf;
    http::request_parser<http::string_body> p;
    p.body_limit(8 << 20);
    beast::error_code ec;
    http::read(s, buf, p, ec);
    if (ec) return;
    auto& req = p.get();
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = req.target() == "/echo" ? req.body() : "hello from the pod";
    res.keep_alive(false);
    res.prepare_payload();
    http::write(s, res, ec);
    s.shutdown(tcp::socket::shutdown_send, ec);
  }
  net::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::thread> conns_;
};

// One HTTP exchange on a fresh connection to 127.0.0.1:port; the body, or "" when it failed.
std::string exchange(uint16_t port, const std::string& target, const std::string& body = "") {
  net::io_context io;
  tcp::socket s(io);
  beast::error_code ec;
  s.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  http::request<http::string_body> req{body.empty() ? http::verb::get : http::verb::post, target,
                                       11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  http::write(s, req, ec);
  if (ec) return "";
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(8 << 20);
  http::read(s, buf, p, ec);
  if (ec) return "";
  return p.get().body();
}

// A command's combined output (and exit status in `rc`).
std::string run(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (rc) *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// A running `kubectl port-forward`: its combined output read as it comes.
class kubectl_child {
 public:
  kubectl_child(const std::string& kubeconfig, const std::string& what, const std::string& ports,
                bool websockets) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::setenv("KUBECTL_PORT_FORWARD_WEBSOCKETS", websockets ? "true" : "false", 1);
      ::execlp("kubectl", "kubectl", "--kubeconfig", kubeconfig.c_str(), "port-forward",
               "--address", "127.0.0.1", what.c_str(), ports.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~kubectl_child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads until `needle` is in the output (true) or `timeout` passes / kubectl exits (false).
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (out_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return out_.find(needle) != std::string::npos;
      out_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // The local port from "Forwarding from 127.0.0.1:PORT -> ...", 0 if none came.
  uint16_t local_port() {
    const std::string marker = "Forwarding from 127.0.0.1:";
    if (!wait_for(marker, 30s) || !wait_for(" -> ", 5s)) return 0;
    return static_cast<uint16_t>(std::atoi(out_.c_str() + out_.find(marker) + marker.size()));
  }
  bool exited(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  const std::string& output() const { return out_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
};

// A port nothing listens on (bound, then released).
uint16_t closed_port() {
  net::io_context io;
  tcp::acceptor a(io, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class PortForwardTest : public ::testing::Test {
 protected:
  void start(bool tls) {
    char tmpl[] = "/tmp/kaito_portforward_XXXXXX";
    home_ = mkdtemp(tmpl);
    server_options o;
    o.home = home_;
    o.token = kToken;
    o.tls = tls;
    auto s = api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
  }
  void TearDown() override {
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  std::string kubectl(const std::string& args, int* rc = nullptr) {
    return run("kubectl --kubeconfig " + srv_->kubeconfig_path() + " " + args, rc);
  }
  // A running pod `name` labelled app=NAME whose container port 5000 answers on 127.0.0.1:`port`.
  void make_pod(const std::string& name, uint16_t port) {
    std::string file = home_ + "/" + name + ".json";
    std::ofstream(file) << R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" << name
                        << R"(","labels":{"app":")" << name
                        << R"("},"annotations":{"kaito.sh/host-port-offset":")"
                        << (static_cast<int>(port) - 5000)
                        << R"("}},"spec":{"containers":[{"name":"main","image":"x",)"
                        << R"("ports":[{"name":"http","containerPort":5000}]}]}})";
    int rc = -1;
    std::string out = kubectl("create -f " + file, &rc);
    ASSERT_EQ(rc, 0) << out;
    out = kubectl("patch pod " + name +
                      " --subresource=status --type=merge -p "
                      "'{\"status\":{\"podIP\":\"127.0.0.1\",\"phase\":\"Running\"}}'",
                  &rc);
    ASSERT_EQ(rc, 0) << out;
  }
  void make_service(const std::string& name, const std::string& app) {
    std::string file = home_ + "/svc-" + name + ".json";
    std::ofstream(file) << R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" << name
                        << R"("},"spec":{"selector":{"app":")" << app
                        << R"("},"ports":[{"name":"http","port":80,"targetPort":5000}]}})";
    int rc = -1;
    std::string out = kubectl("create -f " + file, &rc);
    ASSERT_EQ(rc, 0) << out;
  }
  // Forwards `what` and checks three exchanges, one with a 1 MiB body echoed back.
  void forward_and_check(const std::string& what, const std::string& ports, bool websockets) {
    SCOPED_TRACE(what + (websockets ? " over websockets" : " over SPDY"));
    kubectl_child pf(srv_->kubeconfig_path(), what, ports, websockets);
    uint16_t local = pf.local_port();
    ASSERT_NE(local, 0) << pf.output();
    EXPECT_EQ(exchange(local, "/"), "hello from the pod") << pf.output();
    std::string big(1 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7) % 26);
    std::string echoed = exchange(local, "/echo", big);
    EXPECT_EQ(echoed.size(), big.size()) << pf.output();
    EXPECT_TRUE(echoed == big);
    EXPECT_EQ(exchange(local, "/again"), "hello from the pod") << pf.output();
    EXPECT_TRUE(pf.wait_for("Handling connection for", 1s)) << pf.output();
    EXPECT_EQ(pf.output().find("error"), std::string::npos) << pf.output();
  }

  std::string home_;
  std::unique_ptr<api_server> srv_;
};

TEST_F(PortForwardTest, KubectlForwardsToPodsAndServices) {
  if (!have_kubectl()) GTEST_SKIP() << "kubectl is not on PATH";
  backend up;
  start(true);
  make_pod("p", up.port());
  make_service("s", "p");
  for (bool websockets : {true, false}) {
    forward_and_check("pod/p", ":5000", websockets);
    forward_and_check("svc/s", ":80", websockets);
  }
}

TEST_F(PortForwardTest, RefusedTargetIsReportedOnTheErrorStream) {
  if (!have_kubectl()) GTEST_SKIP() << "kubectl is not on PATH";
  start(true);
  const uint16_t dead = closed_port();
  make_pod("dead", dead);
  for (bool websockets : {true, false}) {
    SCOPED_TRACE(websockets ? "websockets" : "SPDY");
    kubectl_child pf(srv_->kubeconfig_path(), "pod/dead", ":5000", websockets);
    uint16_t local = pf.local_port();
    ASSERT_NE(local, 0) << pf.output();
    EXPECT_EQ(exchange(local, "/"), "");
    const std::string message =
        "error forwarding port 5000 to pod dead, uid : dial tcp 127.0.0.1:" + std::to_string(dead) +
        ": connect: connection refused";
    EXPECT_TRUE(pf.wait_for(message, 10s)) << pf.output();
    // client-go 1.31+ closes the whole session after an error-stream message.
    EXPECT_TRUE(pf.exited(10s)) << pf.output();
  }
}

TEST_F(PortForwardTest, StatusAnswersWithoutAnUpgrade) {
  start(false);
  auto call = [&](const std::string& method, const std::string& target,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::io_context io;
    tcp::socket s(io);
    s.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return std::make_pair(static_cast<int>(res.result_int()),
                          nlohmann::json::parse(res.body(), nullptr, false));
  };
  const std::string ns = "/api/v1/namespaces/default";
  auto created = testing::send_request(
      srv_->port(),
      {"POST", ns + "/pods",
       R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}})",
       "application/json", "application/json", kToken});
  ASSERT_EQ(created.code, 201) << created.body;
  const std::vector<std::pair<std::string, std::string>> spdy = {
      {"Connection", "Upgrade"},
      {"Upgrade", "SPDY/3.1"},
      {"X-Stream-Protocol-Version", "portforward.k8s.io"}};
  auto [code, st] = call("POST", ns + "/pods/p/portforward");
  EXPECT_EQ(code, 400);
  EXPECT_EQ(st["message"], "Upgrade request required");
  std::tie(code, st) = call("POST", ns + "/pods/gone/portforward", spdy);
  EXPECT_EQ(code, 404);
  std::tie(code, st) = call("POST", ns + "/pods/p/portforward", spdy);
  EXPECT_EQ(code, 503);
  EXPECT_EQ(st["message"], "pod p has no IP address yet");
  std::tie(code, st) = call("DELETE", ns + "/pods/p/portforward", spdy);
  EXPECT_EQ(code, 405);
  std::tie(code, st) = call("POST", ns + "/services/p/portforward", spdy);
  EXPECT_EQ(code, 404);
  auto [wrong_code, wrong] = call("POST", ns + "/pods/p/portforward",
                                  {{"Connection", "Upgrade"},
                                   {"Upgrade", "SPDY/3.1"},
                                   {"X-Stream-Protocol-Version", "v9.portforward.k8s.io"}});
  EXPECT_EQ(wrong_code, 503);  // the pod is checked before the protocol
  auto disc = testing::send_request(
      srv_->port(), {"GET", "/api/v1", "", "application/json", "application/json", kToken});
  EXPECT_NE(disc.body.find("\"pods/portforward\""), std::string::npos);
}

// A session driven by hand over a socketpair: a request whose data stream never comes is ended
// after stream_pair_timeout with a message on its error stream, and the session goes on.
TEST(PortForwardSession, AHalfOpenRequestTimesOut) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  struct fd_stream : duplex_stream {
    int fd_, stop_;
    fd_stream(int f, int s) : fd_(f), stop_(s) {}
    long read_some(char* buf, size_t n, int) override {
      ssize_t k = ::recv(fd_, buf, n, MSG_DONTWAIT);
      if (k == 0) return -1;
      return k < 0 ? (errno == EAGAIN ? 0 : -1) : k;
    }
    bool write(std::string_view d) override {
      return ::send(fd_, d.data(), d.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(d.size());
    }
    int fd() const override { return fd_; }
    int stop_fd() const override { return stop_; }
  } server_side(sv[0], stop[0]);
  forward_target t{"p", "127.0.0.1", 0, false};
  t.stream_pair_timeout = std::chrono::milliseconds(300);
  std::thread session([&] { run_port_forward_session(server_side, t); });
  spdy::header_compressor out;
  std::string syn = spdy::syn_stream_frame(
      1, out.compress({{"streamtype", "error"}, {"port", "5000"}, {"requestid", "0"}}), 0);
  ASSERT_EQ(::send(sv[1], syn.data(), syn.size(), 0), static_cast<ssize_t>(syn.size()));
  // Read frames until the error stream's message and FIN arrive (or 5 s pass).
  std::string in, message;
  bool fin = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!fin && std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    ssize_t k = ::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    if (k > 0) in.append(buf, static_cast<size_t>(k));
    for (;;) {
      spdy::frame f;
      size_t used = 0;
      std::string err;
      if (spdy::parse_frame(in, f, used, err) != spdy::parse_status::ok) break;
      in.erase(0, used);
      if (f.type == spdy::kData && f.stream_id == 1) {
        message += f.payload;
        fin = f.fin();
      }
    }
    if (k <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(fin);
  EXPECT_EQ(message, "timed out waiting for the data and error streams of request 0");
  ASSERT_EQ(::write(stop[1], "x", 1), 1);  // the server stops: the session ends
  session.join();
  for (int fd : {sv[0], sv[1], stop[0], stop[1]}) ::close(fd);
}

TEST(SpdyFrames, HeadersRoundTripThroughOneCompressionStream) {
  spdy::header_compressor out;
  spdy::header_decompressor in;
  for (int i = 0; i < 3; ++i) {  // the zlib state carries over between frames
    spdy::header_list h = {{"streamtype", i % 2 ? "data" : "error"},
                           {"port", "8080"},
                           {"requestid", std::to_string(i)}};
    std::string wire = spdy::syn_stream_frame(2 * i + 1, out.compress(h), 0);
    spdy::frame f;
    size_t used = 0;
    std::string err;
    ASSERT_EQ(spdy::parse_frame(wire, f, used, err), spdy::parse_status::ok) << err;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(f.type, spdy::kSynStream);
    EXPECT_EQ(f.stream_id, static_cast<uint32_t>(2 * i + 1));
    spdy::header_list got;
    ASSERT_TRUE(in.decompress(f.payload, got, err)) << err;
    EXPECT_EQ(got, h);
    EXPECT_EQ(spdy::header_value(got, "requestid"), std::to_string(i));
  }
}

TEST(SpdyFrames, ControlAndDataFramesParse) {
  std::string wire = spdy::data_frame(3, "abc", true) + spdy::ping_frame(7) +
                     spdy::rst_stream_frame(5, spdy::kCancel) + spdy::goaway_frame(9, 0) +
                     spdy::window_update_frame(3, 1000);
  std::vector<spdy::frame> frames;
  std::string_view rest = wire;
  while (!rest.empty()) {
    spdy::frame f;
    size_t used = 0;
    std::string err;
    // Every prefix short of a whole frame asks for more.
    EXPECT_EQ(spdy::parse_frame(rest.substr(0, 7), f, used, err), spdy::parse_status::need_more);
    ASSERT_EQ(spdy::parse_frame(rest, f, used, err), spdy::parse_status::ok) << err;
    frames.push_back(f);
    rest.remove_prefix(used);
  }
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].payload, "abc");
  EXPECT_TRUE(frames[0].fin());
  EXPECT_EQ(frames[1].type, spdy::kPing);
  EXPECT_EQ(frames[1].value, 7u);
  EXPECT_EQ(frames[2].value, spdy::kCancel);
  EXPECT_EQ(frames[3].stream_id, 9u);
  EXPECT_EQ(frames[4].value, 1000u);
}

TEST(SpdyFrames, MalformedInputIsRefused) {
  spdy::frame f;
  size_t used = 0;
  std::string err;
  // Version 2, a too-long frame, a short RST_STREAM, a SETTINGS count past its payload.
  for (std::string bad : {std::string("\x80\x02\x00\x06\x00\x00\x00\x04\0\0\0\1", 12),
                          std::string("\x00\x00\x00\x01\x00\xff\xff\xff", 8),
                          std::string("\x80\x03\x00\x03\x00\x00\x00\x04\0\0\0\1", 12),
                          std::string("\x80\x03\x00\x04\x00\x00\x00\x04\0\0\0\x09", 12)}) {
    EXPECT_EQ(spdy::parse_frame(bad, f, used, err), spdy::parse_status::malformed);
    EXPECT_FALSE(err.empty());
  }
  spdy::header_decompressor in;
  spdy::header_list h;
  EXPECT_FALSE(in.decompress("not zlib at all", h, err));
  EXPECT_FALSE(spdy::decode_header_block(std::string("\0\0\0\2\0\0\0\1a", 9), h, err));
  EXPECT_FALSE(spdy::decode_header_block(std::string("\xff\xff\xff\xff", 4), h, err));
}

TEST(WebsocketTunnel, AcceptKeyAndFraming) {
  // RFC 6455 section 1.3's example.
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(websocket_frame(2, "hi"), std::string("\x82\x02hi", 4));
  EXPECT_EQ(websocket_frame(2, std::string(300, 'x')).substr(0, 4),
            std::string("\x82\x7e\x01\x2c", 4));
}

}  // namespace
}  // namespace kaito::k8s::apiserver
