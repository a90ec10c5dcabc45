// The services/NAME/proxy and pods/NAME/proxy subresources over real HTTP: the API server on an
// ephemeral port forwards to a tiny backend on another, through an Endpoints object (services) or
// the pod's IP and host-port offset (pods). Checks what reaches the backend (path, query, body,
// headers: no Authorization), what comes back (code, body, headers, a streamed body relayed as it
// arrives, the relay ending when the client leaves) and the Status errors of each failed lookup.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "k8s/apiserver/server.h"
#include "k8s/apiserver/tables.h"
#include "tests/k8s/http_test_client.h"

namespace kaito::k8s::apiserver {
namespace {

namespace fs = std::filesystem;
namespace net = testing::net;
namespace beast = testing::beast;
namespace http = testing::http;
using tcp = testing::tcp;
using namespace std::chrono_literals;

constexpr const char* kToken = "test-token-proxy";
constexpr const char* kNs = "/api/v1/namespaces/default";

// A one-thread HTTP/1.1 backend on 127.0.0.1:0, one request per connection. It records the last
// request and answers by path:
//   /stream  chunked {"n":1}\n, then 300 ms later {"n":2}\n (second_sent is set just before)
//   /drip    a chunk every 20 ms until a write fails (drip_done) or 250 chunks
//   /broken  chunked {"n":1}\n, then the connection closes without the final chunk
//   /slow    no answer: waits (up to 5 s) for the proxy to close the connection (slow_closed)
//   /echo    the request body with the request's Content-Type
//   /teapot  418
//   else     200 text/plain "ok", X-Backend: yes, Cache-Control: max-age=5
class backend {
 public:
  struct seen {
    std::string method, target, body;
    std::map<std::string, std::string> headers;  // lower-case names
  };

  backend() : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { loop(); });
  }
  ~backend() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  seen last() {
    std::lock_guard lock(mu_);
    return last_;
  }
  std::atomic<bool> second_sent{false};
  std::atomic<bool> drip_done{false};
  std::atomic<int> drip_chunks{0};
  std::atomic<bool> slow_closed{false};

 private:
  void loop() {
    for (;;) {
      tcp::socket s(io_);
      beast::error_code ec;
      acceptor_.accept(s, ec);
      if (ec) return;
      serve(s);
    }
  }
  bool chunk(tcp::socket& s, const std::string& data) {
    std::ostringstream c;
    c << std::hex << data.size() << "\r\n" << data << "\r\n";
    beast::error_code ec;
    net::write(s, net::buffer(c.str()), ec);
    return !ec;
  }
  void serve(tcp::socket& s) {
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(s, buf, req, ec);
    if (ec) return;
    seen r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[name] = std::string(f.value());
    }
    {
      std::lock_guard lock(mu_);
      last_ = r;
    }
    std::string path = r.target.substr(0, r.target.find('?'));
    if (path == "/slow") {
      s.non_blocking(true);
      char c;
      for (int i = 0; i < 250; ++i) {
        size_t n = s.read_some(net::buffer(&c, 1), ec);
        if (ec == net::error::eof || (!ec && n == 0)) {
          slow_closed = true;
          return;
        }
        std::this_thread::sleep_for(20ms);
      }
      return;
    }
    if (path == "/stream" || path == "/drip" || path == "/broken") {
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
      net::write(s, net::buffer(head), ec);
      if (path == "/broken") {
        chunk(s, "{\"n\":1}\n");
        std::this_thread::sleep_for(100ms);
        s.close(ec);
      } else if (path == "/stream") {
        chunk(s, "{\"n\":1}\n");
        std::this_thread::sleep_for(300ms);
        second_sent = true;
        chunk(s, "{\"n\":2}\n");
        chunk(s, "");
      } else {
        for (int i = 0; i < 250 && chunk(s, "{\"n\":" + std::to_string(i) + "}\n"); ++i) {
          drip_chunks = i + 1;
          std::this_thread::sleep_for(20ms);
        }
        drip_done = true;
      }
      return;
    }
    http::response<http::string_body> res{http::status::ok, 11};
    if (path == "/echo") {
      res.set(http::field::content_type, req[http::field::content_type]);
      res.body() = req.body();
    } else if (path == "/teapot") {
      res.result(418);
      res.set(http::field::content_type, "text/plain");
      res.body() = "short and stout";
    } else {
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.set("X-Backend", "yes");
      res.set(http::field::cache_control, "max-age=5");
      res.body() = "ok";
    }
    res.keep_alive(false);
    res.prepare_payload();
    http::write(s, res, ec);
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  seen last_;
};

// One request with any headers; the whole response, headers included.
http::response<http::string_body> fetch(
    uint16_t port, const std::string& method, const std::string& target,
    const std::string& body = "", std::vector<std::pair<std::string, std::string>> extra = {}) {
  net::io_context io;
  tcp::socket s(io);
  s.connect({net::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : extra) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  if (method == "HEAD") p.skip(true);
  beast::error_code ec;
  http::read(s, buf, p, ec);
  EXPECT_FALSE(ec) << ec.message();
  return p.release();
}

json status_of(const http::response<http::string_body>& r) {
  return json::parse(r.body(), nullptr, false);
}

class ServiceProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kaito_proxy_XXXXXX";
    home_ = mkdtemp(tmpl);
    server_options o;
    o.home = home_;
    o.token = kToken;
    auto s = api_server::start(o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    srv_ = std::move(*s);
    create("services", R"({"metadata":{"name":"svc"},"spec":{"selector":{"app":"x"},
        "ports":[{"name":"http","port":80,"targetPort":5000},{"name":"metrics","port":81}]}})");
    create_endpoints("svc", up_.port());
  }
  void TearDown() override {
    srv_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  void create(const std::string& resource, const std::string& body) {
    auto r = fetch(srv_->port(), "POST", std::string(kNs) + "/" + resource, body);
    ASSERT_EQ(r.result_int(), 201u) << r.body();
  }
  void create_endpoints(const std::string& name, uint16_t port) {
    json ep = {{"apiVersion", "v1"},
               {"kind", "Endpoints"},
               {"metadata", {{"name", name}}},
               {"subsets",
                {{{"addresses", {{{"ip", "127.0.0.1"}}}},
                  {"notReadyAddresses", {{{"ip", "127.0.0.2"}}}},
                  {"ports", {{{"name", "http"}, {"port", port}}}}}}}};
    create("endpoints", ep.dump());
  }
  http::response<http::string_body> get(const std::string& target) {
    return fetch(srv_->port(), "GET", std::string(kNs) + target);
  }
  std::string home_;
  backend up_;
  std::unique_ptr<api_server> srv_;
};

TEST_F(ServiceProxyTest, GetReachesTheBackendWithoutTheToken) {
  auto r =
      fetch(srv_->port(), "GET", std::string(kNs) + "/services/svc:80/proxy/health?x=1&y=a%20b", "",
            {{"Connection", "keep-alive, X-Hop"}, {"X-Hop", "1"}, {"X-Custom", "c"}});
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), "ok");
  EXPECT_EQ(r[http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_EQ(r["X-Backend"], "yes");
  EXPECT_EQ(r[http::field::cache_control], "max-age=5");  // the backend's, not ours
  auto seen = up_.last();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/health?x=1&y=a%20b");
  EXPECT_EQ(seen.headers.count("authorization"), 0u);
  EXPECT_EQ(seen.headers.count("x-hop"), 0u);
  EXPECT_EQ(seen.headers["x-custom"], "c");
  EXPECT_EQ(seen.headers["host"], "127.0.0.1:" + std::to_string(up_.port()));
  EXPECT_EQ(seen.headers["x-forwarded-for"], "127.0.0.1");
  // The backend's code comes back as it is; the named port, HEAD and a re-escaped path work.
  auto t = get("/services/svc:http/proxy/teapot");
  EXPECT_EQ(t.result_int(), 418u);
  EXPECT_EQ(t.body(), "short and stout");
  auto h = fetch(srv_->port(), "HEAD", std::string(kNs) + "/services/http:svc:http/proxy/");
  EXPECT_EQ(h.result_int(), 200u);
  EXPECT_EQ(up_.last().method, "HEAD");
  EXPECT_EQ(up_.last().target, "/");
  EXPECT_EQ(get("/services/svc:80/proxy/a%20b/c%3Fd/").result_int(), 200u);
  EXPECT_EQ(up_.last().target, "/a%20b/c%3Fd/");
  EXPECT_EQ(get("/services/svc:80/proxy").result_int(), 200u);
  EXPECT_EQ(up_.last().target, "/");
}

TEST_F(ServiceProxyTest, PostBodyArrivesIntact) {
  std::string body = R"({"model":"phi","messages":[{"role":"user","content":"hi \u00e9"}]})";
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    auto r = fetch(srv_->port(), m, std::string(kNs) + "/services/svc:http/proxy/echo", body);
    EXPECT_EQ(r.result_int(), 200u) << m;
    EXPECT_EQ(r.body(), body) << m;
    EXPECT_EQ(r[http::field::content_type], "application/json") << m;
    EXPECT_EQ(up_.last().method, m);
    EXPECT_EQ(up_.last().body, body);
  }
}

TEST_F(ServiceProxyTest, LookupFailuresAreStatusErrors) {
  auto expect = [&](const std::string& target, unsigned code, const std::string& message) {
    auto r = get(target);
    EXPECT_EQ(r.result_int(), code) << target << ": " << r.body();
    EXPECT_EQ(status_of(r)["kind"], "Status") << target;
    EXPECT_EQ(status_of(r)["message"], message) << target;
  };
  expect("/services/svc/proxy/", 503, "no endpoints available for service \"svc\"");
  expect("/services/svc:metrics/proxy/", 503, "no endpoints available for service \"svc\"");
  expect("/services/svc:8080/proxy/", 503, "no service port 8080 found for service \"svc\"");
  expect("/services/nope:80/proxy/", 404, "services \"nope\" not found");
  expect("/services/a:b:c:d/proxy/", 400, "invalid service request \"a:b:c:d\"");
  expect("/services/ftp:svc:80/proxy/", 400, "invalid service request \"ftp:svc:80\"");
  auto https = get("/services/https:svc:80/proxy/");
  EXPECT_EQ(https.result_int(), 400u);
  EXPECT_NE(status_of(https)["message"].get<std::string>().find("https"), std::string::npos);
  create("services", R"({"metadata":{"name":"lonely"},"spec":{"ports":[{"port":80}]}})");
  expect("/services/lonely:80/proxy/", 503, "no endpoints available for service \"lonely\"");
  // Other resources have no proxy subresource, and no other subresource takes a path.
  EXPECT_EQ(get("/configmaps/x/proxy/").result_int(), 404u);
  EXPECT_EQ(get("/services/svc/status/x").result_int(), 404u);
}

TEST_F(ServiceProxyTest, UnreachableBackendIs503) {
  uint16_t closed;
  {
    net::io_context io;
    tcp::acceptor a(io, {net::ip::make_address("127.0.0.1"), 0});
    closed = a.local_endpoint().port();
  }
  create("services",
         R"({"metadata":{"name":"down"},"spec":{"ports":[{"name":"http","port":80}]}})");
  create_endpoints("down", closed);
  auto r = get("/services/down:80/proxy/");
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(status_of(r)["reason"], "ServiceUnavailable");
  EXPECT_EQ(status_of(r)["message"], "error trying to reach service: dial tcp 127.0.0.1:" +
                                         std::to_string(closed) + ": connect: connection refused");
}

TEST_F(ServiceProxyTest, StreamedBodyIsRelayedAsItArrives) {
  testing::watch_stream s(srv_->port(), std::string(kNs) + "/services/svc:80/proxy/stream", kToken);
  ASSERT_EQ(s.code(), 200);
  auto first = s.read_lines(1, 5s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["n"], 1);
  EXPECT_FALSE(up_.second_sent.load());  // the first chunk came before the second was written
  auto both = s.read_lines(2, 5s);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1]["n"], 2);
  s.read_lines(3, 2s);
  EXPECT_TRUE(s.ended());
}

TEST_F(ServiceProxyTest, RelayStopsWhenTheClientLeaves) {
  {
    testing::watch_stream s(srv_->port(), std::string(kNs) + "/services/svc:80/proxy/drip", kToken);
    ASSERT_EQ(s.read_lines(2, 5s).size(), 2u);
    s.close();
  }
  auto deadline = std::chrono::steady_clock::now() + 4s;
  while (!up_.drip_done && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(up_.drip_done.load());
  EXPECT_LT(up_.drip_chunks.load(), 250);  // the backend connection was closed, not drained
}

TEST_F(ServiceProxyTest, BackendBreakingOffTruncatesTheAnswer) {
  net::io_context io;
  tcp::socket s(io);
  s.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
  http::request<http::string_body> req{http::verb::get,
                                       std::string(kNs) + "/services/svc:80/proxy/broken", 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  beast::error_code ec;
  http::read(s, buf, p, ec);
  // The first chunk came through, then the answer ends without its final chunk: an error for the
  // client, not a complete {"n":1} answer.
  EXPECT_TRUE(ec == http::error::partial_message || ec == net::error::eof) << ec.message();
  EXPECT_FALSE(p.is_done());
}

TEST_F(ServiceProxyTest, ClientLeavingBeforeTheAnswerClosesTheBackend) {
  {
    net::io_context io;
    tcp::socket s(io);
    s.connect({net::ip::make_address("127.0.0.1"), srv_->port()});
    http::request<http::string_body> req{http::verb::get,
                                         std::string(kNs) + "/services/svc:80/proxy/slow", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
    http::write(s, req);
    std::this_thread::sleep_for(300ms);
  }  // the client hangs up with no answer yet
  auto deadline = std::chrono::steady_clock::now() + 4s;
  while (!up_.slow_closed && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(up_.slow_closed.load());
}

TEST_F(ServiceProxyTest, PodProxyAddsTheHostPortOffset) {
  ASSERT_GT(up_.port(), 5000);
  json pod = {
      {"metadata",
       {{"name", "p"},
        {"annotations", {{"kaito.sh/host-port-offset", std::to_string(up_.port() - 5000)}}}}},
      {"spec",
       {{"containers",
         {{{"name", "main"},
           {"image", "x"},
           {"ports", {{{"name", "api"}, {"containerPort", 5000}}}}}}}}}};
  create("pods", pod.dump());
  auto r = get("/pods/p:5000/proxy/");
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_EQ(status_of(r)["message"], "pod p has no IP address yet");
  auto st = fetch(srv_->port(), "PATCH", std::string(kNs) + "/pods/p/status",
                  R"({"status":{"podIP":"127.0.0.1"}})",
                  {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(st.result_int(), 200u) << st.body();
  for (const char* target : {"/pods/p:5000/proxy/v1/models?a=1", "/pods/p/proxy/v1/models?a=1",
                             "/pods/http:p:api/proxy/v1/models?a=1"}) {
    auto ok = get(target);
    EXPECT_EQ(ok.result_int(), 200u) << target << ": " << ok.body();
    EXPECT_EQ(up_.last().target, "/v1/models?a=1") << target;
  }
  EXPECT_EQ(get("/pods/p:web/proxy/").result_int(), 400u);
  EXPECT_EQ(get("/pods/gone:80/proxy/").result_int(), 404u);
}

TEST_F(ServiceProxyTest, EndpointsAreServedLikeOtherBuiltins) {
  auto t = fetch(srv_->port(), "GET", std::string(kNs) + "/endpoints", "",
                 {{"Accept", kTableContentType}});
  ASSERT_EQ(t.result_int(), 200u) << t.body();
  json table = json::parse(t.body());
  ASSERT_EQ(table["rows"].size(), 1u);
  EXPECT_EQ(table["rows"][0]["cells"][1], "127.0.0.1:" + std::to_string(up_.port()));
  json ep = json::parse(get("/endpoints/svc").body());
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["protocol"], "TCP");  // defaulted as the real server does
  json v1 = json::parse(fetch(srv_->port(), "GET", "/api/v1").body());
  std::set<std::string> names;
  for (const auto& r : v1["resources"]) names.insert(r["name"].get<std::string>());
  EXPECT_TRUE(names.count("endpoints"));
  EXPECT_TRUE(names.count("services/proxy"));
  EXPECT_TRUE(names.count("pods/proxy"));
  json doc = json::parse(fetch(srv_->port(), "GET", "/openapi/v3/api/v1").body());
  EXPECT_TRUE(doc["paths"].contains("/api/v1/namespaces/{namespace}/endpoints/{name}"));
}

}  // namespace
}  // namespace kaito::k8s::apiserver
