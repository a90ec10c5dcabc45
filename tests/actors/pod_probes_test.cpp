// The kubelet's probes on a kaito machine: pod_probes (thresholds, phases, timers, the events and
// kills it asks for; driven with a fake clock), pod_probe_spec (core/v1 Probe JSON to what the
// machine runs), and probe_check against real sockets on 127.0.0.1 (an HTTP server whose status
// the test sets, a closed port, a listener that never answers).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "actors/http_server.h"
#include "actors/pod_probe_spec.h"
#include "actors/pod_probes.h"
#include "actors/probe_check.h"

namespace {

using namespace std::chrono_literals;
using kaito::actors::pod_probes;
using kaito::actors::probe_kind;
using kaito::actors::probe_timer;
using kaito::actors::probe_verdict;
namespace msg = kaito::msg;
using json = nlohmann::json;

msg::probe_spec http_probe(int32_t period, int32_t failures, int32_t delay = 0,
                           int32_t successes = 1) {
  msg::probe_spec s;
  s.action = "http";
  s.path = "/health";
  s.port = 5000;
  s.period_s = period;
  s.failure_threshold = failures;
  s.initial_delay_s = delay;
  s.success_threshold = successes;
  return s;
}

const probe_timer* find(const std::vector<probe_timer>& ts, probe_kind k) {
  for (const auto& t : ts)
    if (t.kind == k) return &t;
  return nullptr;
}

// Fires timer t at `now` and answers with ok; returns the verdict.
probe_verdict check(pod_probes& p, const probe_timer& t, pod_probes::time_point now, bool ok,
                    const std::string& output = "HTTP probe failed with statuscode: 500") {
  auto spec = p.on_timer(t.kind, t.run, t.tick, now);
  EXPECT_TRUE(spec.has_value()) << kaito::actors::probe_kind_name(t.kind);
  return p.on_result(t.kind, t.run, ok, output, now + 5ms, "serve");
}

TEST(pod_probes, no_probes_is_started_and_ready) {
  pod_probes p;
  EXPECT_FALSE(p.any());
  EXPECT_TRUE(p.start(pod_probes::time_point{}).empty());
  EXPECT_TRUE(p.started());
  EXPECT_TRUE(p.ready());
}

TEST(pod_probes, startup_gates_the_others_and_its_failures_kill_at_the_threshold) {
  pod_probes p(http_probe(10, 3), http_probe(10, 3), http_probe(10, 3));
  pod_probes::time_point t0{};
  auto ts = p.start(t0);
  ASSERT_EQ(ts.size(), 1u);  // only startup runs before it succeeds
  EXPECT_EQ(ts[0].kind, probe_kind::startup);
  EXPECT_EQ(ts[0].delay, 0ms);
  EXPECT_FALSE(p.started());
  EXPECT_FALSE(p.ready());
  // Two misses: an Unhealthy event each, no kill, the next check a period after this one began.
  probe_timer t = ts[0];
  for (int i = 0; i < 2; ++i) {
    auto v = check(p, t, t0 + std::chrono::seconds(10 * i), false);
    EXPECT_FALSE(v.kill);
    ASSERT_EQ(v.events.size(), 1u);
    EXPECT_EQ(v.events[0].type, "Warning");
    EXPECT_EQ(v.events[0].reason, "Unhealthy");
    EXPECT_EQ(v.events[0].message, "Startup probe failed: HTTP probe failed with statuscode: 500");
    ASSERT_EQ(v.timers.size(), 1u);
    EXPECT_EQ(v.timers[0].delay, 10s - 5ms);
    t = v.timers[0];
  }
  // A stale timer (an older tick) does nothing; the current one still runs.
  EXPECT_FALSE(p.on_timer(probe_kind::startup, t.run, t.tick - 1, t0 + 20s).has_value());
  auto v = check(p, t, t0 + 20s, false);
  EXPECT_TRUE(v.kill);
  EXPECT_EQ(v.kill_message, "startup probe failed 3 times: HTTP probe failed with statuscode: 500");
  ASSERT_EQ(v.events.size(), 2u);
  EXPECT_EQ(v.events[1].type, "Normal");
  EXPECT_EQ(v.events[1].reason, "Killing");
  EXPECT_EQ(v.events[1].message, "Container serve failed startup probe, will be restarted");
  EXPECT_TRUE(v.timers.empty());
  EXPECT_FALSE(p.running());
  // Stopped: nothing runs until the next start, which resets the counts.
  EXPECT_FALSE(p.on_timer(probe_kind::startup, t.run, t.tick + 1, t0 + 30s).has_value());
  auto again = p.start(t0 + 40s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].run, t.run + 1);
  EXPECT_FALSE(check(p, again[0], t0 + 40s, false).kill);  // 1 of 3 again
}

TEST(pod_probes, startup_success_starts_liveness_and_readiness_after_their_delay) {
  pod_probes p(http_probe(10, 3), http_probe(10, 3, /*delay=*/20), http_probe(5, 3));
  pod_probes::time_point t0{};
  auto ts = p.start(t0);
  auto v = check(p, ts[0], t0 + 8s, true, "200");
  EXPECT_TRUE(v.events.empty());
  EXPECT_TRUE(p.started());
  EXPECT_FALSE(p.ready());  // readiness has not succeeded yet
  EXPECT_FALSE(v.ready_changed);
  ASSERT_EQ(v.timers.size(), 2u);
  const auto* live = find(v.timers, probe_kind::liveness);
  const auto* ready = find(v.timers, probe_kind::readiness);
  ASSERT_TRUE(live && ready);
  EXPECT_EQ(live->delay, 12s - 5ms);  // 20 s after the start
  EXPECT_EQ(ready->delay, 0ms);
  // Startup is not run again for this container.
  EXPECT_FALSE(p.on_timer(probe_kind::startup, ts[0].run, ts[0].tick, t0 + 9s).has_value());
  auto r = check(p, *ready, t0 + 8s, true, "200");
  EXPECT_TRUE(r.ready_changed);
  EXPECT_TRUE(p.ready());
  ASSERT_EQ(r.timers.size(), 1u);
  EXPECT_EQ(r.timers[0].delay, 5s - 5ms);
}

TEST(pod_probes, readiness_flips_at_its_thresholds_and_never_kills) {
  pod_probes p({}, {}, http_probe(1, 2, 0, /*successes=*/2));
  pod_probes::time_point t0{};
  auto t = p.start(t0)[0];
  auto now = t0;
  auto step = [&](bool ok) {
    auto v = check(p, t, now, ok);
    now += 1s;
    EXPECT_FALSE(v.kill);
    t = v.timers.at(0);
    return v;
  };
  EXPECT_FALSE(step(true).ready_changed);  // 1 of 2 successes
  EXPECT_FALSE(p.ready());
  EXPECT_TRUE(step(true).ready_changed);
  EXPECT_TRUE(p.ready());
  EXPECT_FALSE(step(false).ready_changed);  // 1 of 2 failures: still ready
  EXPECT_TRUE(p.ready());
  EXPECT_FALSE(step(true).ready_changed);  // the run of failures is broken
  EXPECT_FALSE(step(false).ready_changed);
  auto v = step(false);
  EXPECT_TRUE(v.ready_changed);
  EXPECT_FALSE(p.ready());
  ASSERT_EQ(v.events.size(), 1u);
  EXPECT_EQ(v.events[0].message, "Readiness probe failed: HTTP probe failed with statuscode: 500");
}

TEST(pod_probes, liveness_kills_after_consecutive_failures_only) {
  pod_probes p({}, http_probe(10, 2), {});
  pod_probes::time_point t0{};
  auto t = p.start(t0)[0];
  EXPECT_TRUE(p.ready());  // no readiness probe: ready once started
  t = check(p, t, t0, false).timers.at(0);
  t = check(p, t, t0 + 10s, true, "200").timers.at(0);  // a success resets the run
  t = check(p, t, t0 + 20s, false).timers.at(0);
  auto v = check(p, t, t0 + 30s, false);
  EXPECT_TRUE(v.kill);
  EXPECT_EQ(v.kill_message,
            "liveness probe failed 2 times: HTTP probe failed with statuscode: 500");
  EXPECT_EQ(v.events.back().message, "Container serve failed liveness probe, will be restarted");
}

TEST(pod_probes, a_check_in_flight_is_not_doubled_and_listening_brings_probes_forward) {
  pod_probes p(http_probe(10, 30), {}, http_probe(10, 3, /*delay=*/2));
  pod_probes::time_point t0{};
  auto t = p.start(t0)[0];
  t = check(p, t, t0, false, "connection refused").timers.at(0);  // not listening yet
  // The worker says it listens at 0.5 s: startup runs now rather than at 10 s.
  auto fwd = p.on_listening(t0 + 500ms);
  ASSERT_EQ(fwd.size(), 1u);
  EXPECT_EQ(fwd[0].kind, probe_kind::startup);
  EXPECT_EQ(fwd[0].delay, 0ms);
  EXPECT_FALSE(p.on_timer(t.kind, t.run, t.tick, t0 + 10s).has_value());  // superseded
  auto spec = p.on_timer(fwd[0].kind, fwd[0].run, fwd[0].tick, t0 + 500ms);
  ASSERT_TRUE(spec.has_value());
  EXPECT_TRUE(p.on_listening(t0 + 600ms).empty());  // in flight: not doubled
  auto v = p.on_result(probe_kind::startup, fwd[0].run, true, "200", t0 + 600ms, "serve");
  auto* ready = find(v.timers, probe_kind::readiness);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->delay, 1400ms);  // its initialDelaySeconds (2 s) still holds
  // A result for an earlier run is ignored.
  p.start(t0 + 20s);
  EXPECT_FALSE(p.on_result(probe_kind::startup, fwd[0].run, false, "x", t0 + 21s, "serve").kill);
}

TEST(pod_probe_spec, reads_http_and_tcp_probes_with_the_api_defaults) {
  json c = json::parse(R"({
    "name": "serve",
    "ports": [{"name": "http", "containerPort": 5000}],
    "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "failureThreshold": 180},
    "livenessProbe": {"tcpSocket": {"port": 5000}, "periodSeconds": 3, "timeoutSeconds": 2,
                      "terminationGracePeriodSeconds": 5},
    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTPS",
                       "host": "10.0.0.9",
                       "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                       "initialDelaySeconds": 7, "successThreshold": 2,
                       "terminationGracePeriodSeconds": 9}
  })");
  auto p = kaito::actors::probes_of(c);
  EXPECT_TRUE(p.not_run.empty());
  EXPECT_EQ(p.startup.action, "http");
  EXPECT_EQ(p.startup.path, "/health");
  EXPECT_EQ(p.startup.port, 5000);  // the named port
  EXPECT_EQ(p.startup.failure_threshold, 180);
  EXPECT_EQ(p.startup.period_s, 10);
  EXPECT_EQ(p.startup.timeout_s, 1);
  EXPECT_EQ(p.startup.success_threshold, 1);
  EXPECT_EQ(p.liveness.action, "tcp");
  EXPECT_EQ(p.liveness.port, 5000);
  EXPECT_EQ(p.liveness.period_s, 3);
  EXPECT_EQ(p.liveness.timeout_s, 2);
  EXPECT_EQ(p.liveness.failure_threshold, 3);
  EXPECT_EQ(p.liveness.termination_grace_ms, 5000);  // its failure's stop: 5 s, not the pod's
  EXPECT_EQ(p.startup.termination_grace_ms, -1);     // the pod's
  EXPECT_EQ(p.readiness.termination_grace_ms, -1);   // (readiness stops nothing)
  EXPECT_EQ(p.readiness.scheme, "HTTPS");
  EXPECT_EQ(p.readiness.host, "10.0.0.9");
  EXPECT_EQ(p.readiness.initial_delay_s, 7);
  EXPECT_EQ(p.readiness.success_threshold, 2);
  ASSERT_EQ(p.readiness.headers.size(), 1u);
  EXPECT_EQ(p.readiness.headers[0].key, "X-Probe");
}

TEST(pod_probe_spec, probes_the_machine_cannot_run_are_named) {
  json c = json::parse(R"({
    "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}},
    "readinessProbe": {"httpGet": {"path": "/h", "port": "metrics"}},
    "startupProbe": {"grpc": {"port": 9000}}
  })");
  auto p = kaito::actors::probes_of(c);
  EXPECT_TRUE(p.startup.action.empty());
  EXPECT_TRUE(p.liveness.action.empty());
  EXPECT_TRUE(p.readiness.action.empty());
  ASSERT_EQ(p.not_run.size(), 3u);
  EXPECT_EQ(
      p.not_run[0],
      "startupProbe: grpc probes are not run by kaito's machines (httpGet and tcpSocket are)");
  EXPECT_EQ(
      p.not_run[1],
      "livenessProbe: exec probes are not run by kaito's machines (httpGet and tcpSocket are)");
  EXPECT_EQ(p.not_run[2],
            "readinessProbe: port \"metrics\": the container declares no port of that name");
  EXPECT_TRUE(kaito::actors::probes_of(json::parse("{}")).not_run.empty());
  EXPECT_TRUE(kaito::actors::probes_of(json("not an object")).not_run.empty());
}

// A listener that accepts, keeps what the client sent, and never answers.
struct silent_listener {
  int fd = -1;
  uint16_t port = 0;
  std::thread t;
  std::string seen;
  std::atomic<bool> done{false};
  silent_listener() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 4);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    t = std::thread([this] {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[2048];
      ssize_t n = read(c, buf, sizeof buf);
      if (n > 0) seen.assign(buf, static_cast<size_t>(n));
      while (!done) std::this_thread::sleep_for(10ms);
      close(c);
    });
  }
  ~silent_listener() {
    done = true;
    shutdown(fd, SHUT_RDWR);
    close(fd);
    if (t.joinable()) t.join();
  }
};

TEST(probe_check, http_status_decides_and_failures_say_why) {
  std::atomic<int> code{200};
  auto srv = kaito::actors::http_server::start(
      {}, [&](const kaito::actors::http_call& call, kaito::actors::http_reply& r) {
        r.status = call.path == "/health" ? code.load() : 404;
        r.body = "{}";
      });
  ASSERT_TRUE(srv.ok()) << srv.error().to_string();
  msg::probe_spec p = http_probe(1, 1);
  p.port = (*srv)->port() - 2;  // the pod's slot 2 shifts its ports by 2
  auto o = kaito::actors::run_probe_check(p, "127.0.0.1", 2);
  EXPECT_TRUE(o.ok) << o.output;
  code = 302;  // [200, 400) succeeds; redirects are not followed
  EXPECT_TRUE(kaito::actors::run_probe_check(p, "127.0.0.1", 2).ok);
  code = 503;
  o = kaito::actors::run_probe_check(p, "127.0.0.1", 2);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.output, "HTTP probe failed with statuscode: 503");
  p.path = "health";  // a path without its slash gets one
  code = 200;
  EXPECT_TRUE(kaito::actors::run_probe_check(p, "127.0.0.1", 2).ok);
  // tcpSocket: connects.
  p.action = "tcp";
  o = kaito::actors::run_probe_check(p, "127.0.0.1", 2);
  EXPECT_TRUE(o.ok) << o.output;
  // Nothing listening: refused, naming the address.
  uint16_t closed = (*srv)->port();
  (*srv)->stop();
  p.port = closed;
  o = kaito::actors::run_probe_check(p, "127.0.0.1", 0);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.output.rfind("dial tcp 127.0.0.1:" + std::to_string(closed) + ": connect: ", 0), 0u)
      << o.output;
  p.action = "http";
  o = kaito::actors::run_probe_check(p, "127.0.0.1", 0);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.output.find("http://127.0.0.1:" + std::to_string(closed) + "/health"),
            std::string::npos)
      << o.output;
  // Out of range and unknown actions fail without a connection.
  p.port = 65535;
  EXPECT_EQ(kaito::actors::run_probe_check(p, "127.0.0.1", 1).output,
            "port 65536 is out of range (1-65535)");
  p.port = 80;
  p.action = "exec";
  EXPECT_FALSE(kaito::actors::run_probe_check(p, "127.0.0.1", 0).ok);
}

TEST(probe_check, a_server_that_never_answers_times_out_and_sees_the_kubelets_headers) {
  silent_listener l;
  msg::probe_spec p = http_probe(1, 1);
  p.port = l.port;
  p.timeout_s = 1;
  p.headers.push_back({"X-Probe", "yes"});
  auto t0 = std::chrono::steady_clock::now();
  auto o = kaito::actors::run_probe_check(p, "127.0.0.1", 0);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.output.find("timed out"), std::string::npos) << o.output;
  EXPECT_LT(took, 5s);
  l.done = true;
  l.t.join();  // what it read is complete
  EXPECT_NE(l.seen.find("GET /health HTTP/1.1\r\n"), std::string::npos) << l.seen;
  EXPECT_NE(l.seen.find("User-Agent: kube-probe/1.32\r\n"), std::string::npos) << l.seen;
  EXPECT_NE(l.seen.find("X-Probe: yes\r\n"), std::string::npos) << l.seen;
}

TEST(probe_check, a_cancelled_check_does_not_wait_out_its_timeout) {
  silent_listener l;
  msg::probe_spec p = http_probe(1, 1);
  p.port = l.port;
  p.timeout_s = 3600;  // a machine shutting down must not wait an hour
  std::atomic<bool> cancel{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  auto o = kaito::actors::run_probe_check(p, "127.0.0.1", 0, &cancel);
  stopper.join();
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.output.find("cancelled"), std::string::npos) << o.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  // tcpSocket to an address that never answers (TEST-NET-1): cancelled too.
  p.action = "tcp";
  p.host = "192.0.2.1";
  p.port = 9;
  t0 = std::chrono::steady_clock::now();
  auto o2 = kaito::actors::run_probe_check(p, "127.0.0.1", 0, &cancel);
  EXPECT_FALSE(o2.ok);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

}  // namespace
