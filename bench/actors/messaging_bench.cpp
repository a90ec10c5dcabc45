// Actor messaging between two processes on 127.0.0.1: round-trip latency, small-message
// throughput, bulk tensor_bytes throughput and the ring all-reduce, each beside raw TCP doing the
// same exchange in the same run (the floor CAF's BASP adds to). Prints one table.
//
//   kaito_messaging_bench [--rounds N]
//
// The server process is forked before either side creates an actor system; it publishes an echo
// actor and runs a raw TCP echo server. Both processes use kaito's runtime_config (heartbeats on,
// middleman.workers=0, 2 scheduler threads).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "actors/ring_all_reduce.h"
#include "actors/runtime_config.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "protocol/messages/machine.h"
#include "protocol/messages/wire.h"

namespace {

using clk = std::chrono::steady_clock;
using namespace std::chrono_literals;
using kaito::msg::machine_heartbeat;
using kaito::msg::tensor_bytes;

double us_since(clk::time_point t) {
  return std::chrono::duration<double, std::micro>(clk::now() - t).count();
}

bool io_all(int fd, void* p, size_t n, bool wr) {
  char* c = static_cast<char*>(p);
  while (n) {
    ssize_t r = wr ? write(fd, c, n) : read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Raw TCP echo: each message is a u32 length + payload, echoed back whole.
void tcp_echo_server(int listen_fd) {
  for (;;) {
    int c = accept(listen_fd, nullptr, nullptr);
    if (c < 0) return;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c] {
      std::vector<char> buf;
      uint32_t n;
      while (io_all(c, &n, 4, false)) {
        buf.resize(n);
        if (!io_all(c, buf.data(), n, false) || !io_all(c, &n, 4, true) ||
            !io_all(c, buf.data(), n, true))
          break;
      }
      close(c);
    }).detach();
  }
}

int tcp_listen(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 8);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

caf::behavior echo(caf::event_based_actor*) {
  return {[](machine_heartbeat& h) { return h; }, [](tensor_bytes& t) { return t; },
          [](uint64_t x) { return x; }};
}

struct ports {
  uint16_t caf = 0, tcp = 0;
};

[[noreturn]] void serve(int pipe_fd) {
  ports p;
  int lfd = tcp_listen(&p.tcp);
  std::thread(tcp_echo_server, lfd).detach();
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn(echo);
  auto port = sys.middleman().publish(a, 0, "127.0.0.1", true);
  p.caf = port ? *port : 0;
  io_all(pipe_fd, &p, sizeof p, true);
  close(pipe_fd);
  for (;;) pause();
}

struct percentiles {
  double p50, p99;
};
percentiles pct(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

// Keeps `window` requests in flight until `total` replies came back.
void windowed(caf::actor_system& sys, caf::actor target, size_t total, size_t window,
              caf::actor_config*) {
  std::atomic<size_t> done{0};
  auto f = [&](caf::event_based_actor* self) {
    auto sent = std::make_shared<size_t>(0);
    auto fire = std::make_shared<std::function<void()>>();
    *fire = [=, &done] {
      if (*sent >= total) return;
      ++*sent;
      self->request(target, 10s, uint64_t{*sent}).then([=, &done](uint64_t) {
        if (++done == total) self->quit();
        (*fire)();
      });
    };
    for (size_t i = 0; i < window; ++i) (*fire)();
  };
  sys.spawn(f);
  sys.await_all_actors_done();
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 2000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::max(10, std::atoi(argv[i + 1]));
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    serve(fds[1]);
  }
  close(fds[1]);
  ports p;
  if (!io_all(fds[0], &p, sizeof p, false) || p.caf == 0) {
    std::fprintf(stderr, "server did not start\n");
    return 1;
  }
  struct row {
    std::string metric, ours, tcp, ratio;
  };
  std::vector<row> rows;
  auto fmt = [](const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return std::string(b);
  };
  {
    kaito::actors::runtime_config cfg;
    caf::actor_system sys{cfg};
    auto remote = sys.middleman().remote_actor("127.0.0.1", p.caf);
    if (!remote) {
      std::fprintf(stderr, "connect: %s\n", sys.render(remote.error()).c_str());
      return 1;
    }
    // 1. request/reply round trip of a heartbeat-sized message.
    std::vector<double> caf_rtt, tcp_rtt;
    {
      caf::scoped_actor self{sys};
      machine_heartbeat h{"machine-a", 0, 1, {"9f0c1d2e-uid"}};
      for (int i = 0; i < rounds + 100; ++i) {
        auto t = clk::now();
        self->request(*remote, 5s, h).receive([](machine_heartbeat&) {}, [](caf::error&) {});
        if (i >= 100) caf_rtt.push_back(us_since(t));
      }
    }
    int fd = tcp_connect(p.tcp);
    {
      std::string m(48, 'x');  // about the heartbeat's serialized size
      uint32_t n = static_cast<uint32_t>(m.size());
      for (int i = 0; i < rounds + 100; ++i) {
        auto t = clk::now();
        io_all(fd, &n, 4, true);
        io_all(fd, m.data(), m.size(), true);
        io_all(fd, &n, 4, false);
        io_all(fd, m.data(), m.size(), false);
        if (i >= 100) tcp_rtt.push_back(us_since(t));
      }
    }
    auto a = pct(caf_rtt), b = pct(tcp_rtt);
    rows.push_back({"round trip p50 (us)", fmt("%.0f", a.p50), fmt("%.0f", b.p50),
                    fmt("%.2f", a.p50 / b.p50)});
    rows.push_back({"round trip p99 (us)", fmt("%.0f", a.p99), fmt("%.0f", b.p99),
                    fmt("%.2f", a.p99 / b.p99)});
    // 2. request/reply throughput with 100 in flight.
    {
      const size_t total = 50000;
      auto t = clk::now();
      windowed(sys, *remote, total, 100, nullptr);
      double s = us_since(t) / 1e6;
      rows.push_back({"requests/s, 100 in flight", fmt("%.0f", total / s), "-", "-"});
    }
    // 3. bulk: 4 MiB tensor_bytes echo.
    {
      std::vector<float> v(1 << 20, 1.5f);
      tensor_bytes tb = kaito::msg::make_f32_tensor(v.data(), {1 << 20});
      caf::scoped_actor self{sys};
      const int n = 30;
      auto t = clk::now();
      for (int i = 0; i < n; ++i)
        self->request(*remote, 10s, tb).receive([](tensor_bytes&) {}, [](caf::error&) {});
      double caf_mibs = 2.0 * 4 * n / (us_since(t) / 1e6);
      std::vector<char> buf(4 << 20);
      uint32_t len = static_cast<uint32_t>(buf.size());
      t = clk::now();
      for (int i = 0; i < n; ++i) {
        io_all(fd, &len, 4, true);
        io_all(fd, buf.data(), buf.size(), true);
        io_all(fd, &len, 4, false);
        io_all(fd, buf.data(), buf.size(), false);
      }
      double tcp_mibs = 2.0 * 4 * n / (us_since(t) / 1e6);
      rows.push_back({"4 MiB echo (MiB/s both ways)", fmt("%.0f", caf_mibs), fmt("%.0f", tcp_mibs),
                      fmt("%.2f", caf_mibs / tcp_mibs)});
    }
    close(fd);
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  std::printf("actor messaging, 2 processes on 127.0.0.1 (CAF 0.17.6 BASP vs raw TCP, %d rounds)\n",
              rounds);
  std::printf("%-32s %12s %12s %8s\n", "metric", "kaito/CAF", "raw TCP", "ratio");
  for (const auto& r : rows)
    std::printf("%-32s %12s %12s %8s\n", r.metric.c_str(), r.ours.c_str(), r.tcp.c_str(),
                r.ratio.c_str());
  return 0;
}
