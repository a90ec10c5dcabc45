// The machine actor end to end, across processes: a test supervisor in its own process (this
// binary re-executed with KAITO_TEST_SUPERVISOR_FD set; a real typed msg::supervisor_actor that
// records every hello, heartbeat and pod_report and returns them on shell_request{"events"}),
// the machine in this process pointed at it over 127.0.0.1, and the machine's workers as real
// `kaito worker` processes of the built kaito binary.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "actors/http_server.h"
#include "actors/machine.h"
#include "actors/runtime_config.h"
#include "actors/token.h"
#include "actors/worker_process.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace {

using namespace std::chrono_literals;
namespace msg = kaito::msg;

const std::string good_token = "0123456789abcdef0123456789abcdef";
const char* kaito_binary = KAITO_BINARY_DIR "/cli/kaito";

// ---- the test supervisor (runs in the child process) ------------------------------------------

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

struct test_supervisor_state {
  std::vector<std::string> events;
  std::string token;
};

msg::supervisor_actor::behavior_type test_supervisor(
    msg::supervisor_actor::stateful_pointer<test_supervisor_state> self, std::string token) {
  self->state.token = token;
  return {
      [=](const msg::machine_hello& h) {
        bool ok = kaito::actors::token_equal(h.token, self->state.token);
        std::ostringstream e;
        e << "hello\tname=" << h.name << "\ttoken_ok=" << ok << "\tcpu=" << h.resources.cpu_cores
          << "\tmem=" << h.resources.memory_bytes << "\tslots=" << h.resources.slots
          << "\trunning=" << join(h.running_pod_uids) << "\taddress=" << h.address
          << "\tinstance_type=" << h.instance_type << "\tlabels=" << h.labels.size();
        self->state.events.push_back(e.str());
        if (!ok) return msg::machine_welcome{false, "invalid join token", "", 0};
        return msg::machine_welcome{true, "", h.name, 200};
      },
      [=](const msg::machine_heartbeat& hb) {
        std::ostringstream e;
        e << "heartbeat\tname=" << hb.name << "\tseq=" << hb.seq << "\tbusy=" << hb.busy_slots
          << "\trunning=" << join(hb.running_pod_uids);
        self->state.events.push_back(e.str());
      },
      [=](const msg::pod_report& r) {
        std::ostringstream e;
        e << "report\tuid=" << r.uid << "\tnode=" << r.node << "\tphase=" << r.phase
          << "\texit=" << r.exit_code << "\treason=" << r.reason << "\trestarts=" << r.restart_count
          << "\tpermille=" << r.progress_permille << "\tready=" << r.ready
          << "\tstarted=" << (r.started_at_ms > 0) << "\tfinished=" << (r.finished_at_ms > 0)
          << "\tprogress=" << r.progress << "\tmessage=" << r.message
          << "\toffset=" << r.host_port_offset << "\tstate=" << r.container_state << "\tlast_exit="
          << (r.last_exit.finished_at_ms > 0 ? std::to_string(r.last_exit.exit_code) : "")
          << "\tevents=";
        for (const auto& ev : r.events)
          e << ev.type << ":" << ev.reason << ":" << ev.message << "|";
        self->state.events.push_back(e.str());
      },
      [=](const msg::shell_request&) {
        std::string text;
        for (const auto& e : self->state.events) text += e + "\n";
        return msg::shell_reply{0, text};
      },
      [=](const msg::shell_complete&) { return msg::shell_completions{}; },
  };
}

[[noreturn]] void run_test_supervisor(int fd, uint16_t port, const std::string& token) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto sup = sys.spawn(test_supervisor, token);
  caf::expected<uint16_t> got = caf::sec::cannot_open_port;
  for (int i = 0; i < 50 && !got; ++i) {
    got = sys.middleman().publish(sup, port, "127.0.0.1", true);
    if (!got) std::this_thread::sleep_for(100ms);
  }
  uint16_t p = got ? *got : 0;
  if (write(fd, &p, sizeof p) != sizeof p) _exit(3);
  close(fd);
  for (;;) pause();  // until the test's SIGKILL
}

// ---- the harness (test process) -------------------------------------------------------------

struct supervisor_process {
  pid_t pid = -1;
  uint16_t port = 0;

  // Starts the supervisor on port (0: any); returns once it is published.
  void start(uint16_t want) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::string self_exe = kaito::actors::self_executable();
    std::string fd_env = "KAITO_TEST_SUPERVISOR_FD=" + std::to_string(fds[1]);
    std::string port_env = "KAITO_TEST_SUPERVISOR_PORT=" + std::to_string(want);
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(fd_env.data());
    envp.push_back(port_env.data());
    envp.push_back(nullptr);
    char* argv[] = {self_exe.data(), nullptr};
    pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      close(fds[0]);
      execve(argv[0], argv, envp.data());
      _exit(127);
    }
    close(fds[1]);
    port = 0;
    ASSERT_EQ(read(fds[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
    close(fds[0]);
    ASSERT_GT(port, 0);
  }
  void kill9() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  ~supervisor_process() { kill9(); }
};

struct event {
  std::string kind;
  std::map<std::string, std::string> f;
};

std::vector<event> parse_events(const std::string& text) {
  std::vector<event> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    event e;
    std::istringstream parts(line);
    std::string part;
    std::getline(parts, e.kind, '\t');
    while (std::getline(parts, part, '\t')) {
      auto eq = part.find('=');
      if (eq != std::string::npos) e.f[part.substr(0, eq)] = part.substr(eq + 1);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<event> events_of(caf::actor_system& sys, const msg::supervisor_actor& sup) {
  std::vector<event> out;
  caf::scoped_actor self{sys};
  self->request(sup, 3s, msg::shell_request{msg::wire_version, "", {"events"}})
      .receive([&](msg::shell_reply& r) { out = parse_events(r.text); }, [&](caf::error&) {});
  return out;
}

std::vector<event> events_of(caf::actor_system& sys, uint16_t port) {
  auto sup = sys.middleman().remote_actor<msg::supervisor_actor>("127.0.0.1", port);
  if (!sup) return {};
  return events_of(sys, *sup);
}

using event_pred = std::function<bool(const event&)>;

size_t count(const std::vector<event>& es, const event_pred& p) {
  size_t n = 0;
  for (const auto& e : es) n += p(e) ? 1 : 0;
  return n;
}

// Polls the supervisor's events until at least n match (or the timeout); returns the last view.
template <class Supervisor>
std::vector<event> wait_events(caf::actor_system& sys, const Supervisor& sup, const event_pred& p,
                               size_t n = 1, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<event> es;
  for (;;) {
    es = events_of(sys, sup);
    if (count(es, p) >= n || std::chrono::steady_clock::now() > deadline) return es;
    std::this_thread::sleep_for(100ms);
  }
}

event_pred report_of(const std::string& uid, const std::string& phase) {
  return [=](const event& e) {
    return e.kind == "report" && e.f.at("uid") == uid && e.f.at("phase") == phase;
  };
}

msg::worker_list workers_of(caf::actor_system& sys, const msg::machine_actor& m) {
  msg::worker_list out;
  caf::scoped_actor self{sys};
  self->request(m, 3s, msg::list_workers{})
      .receive([&](msg::worker_list& l) { out = std::move(l); }, [&](caf::error&) {});
  return out;
}

// Polls list_workers until pred holds (or the timeout).
msg::worker_list wait_workers(caf::actor_system& sys, const msg::machine_actor& m,
                              const std::function<bool(const msg::worker_list&)>& pred,
                              std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto l = workers_of(sys, m);
    if (pred(l) || std::chrono::steady_clock::now() > deadline) return l;
    std::this_thread::sleep_for(100ms);
  }
}

bool all_idle(const msg::worker_list& l) {
  if (l.workers.empty()) return false;
  for (const auto& w : l.workers)
    if (w.state != "idle" || w.pid <= 0) return false;
  return true;
}

// Commands are sent from an actor of this process (the machine refuses anonymous ones).
template <class Message>
void command(caf::actor_system& sys, const msg::machine_actor& m, Message x) {
  caf::scoped_actor self{sys};
  self->send(m, std::move(x));
}

msg::run_pod pod(const std::string& uid, const std::string& policy, std::vector<std::string> args) {
  return msg::run_pod{"default", "pod-" + uid, uid, policy, std::move(args)};
}

kaito::actors::machine_options options(const std::string& name, uint16_t port, uint32_t slots,
                                       const std::string& token = good_token) {
  kaito::actors::machine_options o;
  o.name = name;
  o.instance_type = "Standard_NC6s_v3";
  o.slots = slots;
  o.labels = {{"kaito.sh/test", "yes"}};
  o.token = token;
  o.supervisor_host = "127.0.0.1";
  o.supervisor_port = port;
  o.worker_binary = kaito_binary;
  o.max_reconnect_backoff = 300ms;
  return o;
}

// Stops the machine when a test ends, also after a failed ASSERT (the actor system's destructor
// would otherwise wait for it forever).
struct machine_stopper {
  caf::actor_addr addr;
  caf::actor_system& sys;
  ~machine_stopper() {
    if (auto h = caf::actor_cast<caf::actor>(addr)) caf::anon_send_exit(h, caf::exit_reason::kill);
  }
};

class machine_test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kaito_binary, X_OK), 0) << kaito_binary << " not built";
    sup_.start(0);
  }
  supervisor_process sup_;
};

TEST_F(machine_test, hello_heartbeats_and_a_self_test_pod_runs_to_success) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto m = kaito::actors::spawn_machine(sys, options("m1", sup_.port, 2));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto hello = [](const event& e) { return e.kind == "hello" && e.f.at("name") == "m1"; };
  auto beat = [](const event& e) { return e.kind == "heartbeat" && e.f.at("name") == "m1"; };
  auto es = wait_events(sys, sup_.port, beat, 3);
  ASSERT_EQ(count(es, hello), 1u);
  for (const auto& e : es) {
    if (!hello(e)) continue;
    EXPECT_EQ(e.f.at("token_ok"), "1");
    EXPECT_GT(std::stoul(e.f.at("cpu")), 0u);
    EXPECT_GT(std::stoull(e.f.at("mem")), 1ull << 20);
    EXPECT_EQ(e.f.at("slots"), "2");
    EXPECT_EQ(e.f.at("running"), "");
    EXPECT_EQ(e.f.at("address"), "127.0.0.1");
    EXPECT_EQ(e.f.at("instance_type"), "Standard_NC6s_v3");
    EXPECT_EQ(e.f.at("labels"), "1");
  }
  ASSERT_GE(count(es, beat), 3u);
  auto l = wait_workers(sys, *m, all_idle);
  ASSERT_EQ(l.workers.size(), 2u);
  EXPECT_EQ(l.machine, "m1");
  EXPECT_EQ(l.workers[1].id, "m1/1");

  // A 2 s self-test: Running with progress, then Succeeded with the figures.
  command(sys, *m, pod("st1", "Never", {"--task=self-test", "--duration-seconds=2"}));
  // The same uid again while it runs: ignored, never run twice.
  std::this_thread::sleep_for(200ms);
  command(sys, *m, pod("st1", "Never", {"--task=self-test", "--duration-seconds=2"}));
  es = wait_events(sys, sup_.port, report_of("st1", "Succeeded"));
  ASSERT_EQ(count(es, report_of("st1", "Succeeded")), 1u);
  size_t running = 0, with_progress = 0;
  for (const auto& e : es) {
    if (report_of("st1", "Running")(e)) {
      ++running;
      EXPECT_EQ(e.f.at("started"), "1");
      EXPECT_EQ(e.f.at("restarts"), "0");
      EXPECT_EQ(e.f.at("node"), "m1");
      if (e.f.at("permille") != "0") {
        ++with_progress;
        EXPECT_NE(e.f.at("progress").find("GFLOP/s"), std::string::npos) << e.f.at("progress");
      }
    }
    if (report_of("st1", "Succeeded")(e)) {
      EXPECT_EQ(e.f.at("exit"), "0");
      EXPECT_EQ(e.f.at("reason"), "Completed");
      EXPECT_EQ(e.f.at("finished"), "1");
      EXPECT_NE(e.f.at("message").find("gemm 512^3 x "), std::string::npos) << e.f.at("message");
      EXPECT_NE(e.f.at("message").find("memory 64 MiB verified"), std::string::npos);
    }
  }
  EXPECT_GE(running, 2u);  // started + at least one progress report
  EXPECT_GE(with_progress, 1u);
  // After it finished, the uid is not run again either: the terminal report is repeated.
  command(sys, *m, pod("st1", "Never", {"--task=self-test"}));
  es = wait_events(sys, sup_.port, report_of("st1", "Succeeded"), 2);
  EXPECT_EQ(count(es, report_of("st1", "Succeeded")), 2u);
  EXPECT_EQ(count(es, report_of("st1", "Running")), running);

  // Bad args: Failed, exit 2, InvalidArgs naming the flag.
  command(sys, *m, pod("bad1", "Never", {"--task=self-test", "--bogus=1"}));
  es = wait_events(sys, sup_.port, report_of("bad1", "Failed"));
  ASSERT_EQ(count(es, report_of("bad1", "Failed")), 1u);
  for (const auto& e : es)
    if (report_of("bad1", "Failed")(e)) {
      EXPECT_EQ(e.f.at("exit"), "2");
      EXPECT_EQ(e.f.at("reason"), "InvalidArgs");
      EXPECT_NE(e.f.at("message").find("--bogus"), std::string::npos) << e.f.at("message");
    }
  // An anonymous run_pod (no sender: it could come from any local process) is refused.
  caf::anon_send(*m, pod("anon1", "Never", {"--task=self-test", "--memory-mib=0"}));
  command(sys, *m, pod("st2", "Never", {"--task=self-test", "--memory-mib=0"}));
  es = wait_events(sys, sup_.port, report_of("st2", "Succeeded"));
  EXPECT_EQ(count(es, report_of("st2", "Succeeded")), 1u);
  EXPECT_EQ(
      count(es, [](const event& e) { return e.kind == "report" && e.f.at("uid") == "anon1"; }), 0u);
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

TEST_F(machine_test, probes_decide_ready_and_a_failing_liveness_probe_restarts_the_pod) {
  // The pod's server is this test's: /ready and /live answer what the test sets. One slot, so
  // the pod's port offset is 0 and its probes dial the server's own port.
  std::atomic<int> ready_code{200}, live_code{200};
  auto srv = kaito::actors::http_server::start({}, [&](const kaito::actors::http_call& c,
                                                       kaito::actors::http_reply& r) {
    r.status = c.path == "/ready" ? ready_code.load() : c.path == "/live" ? live_code.load() : 404;
  });
  ASSERT_TRUE(srv.ok()) << srv.error().to_string();
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto m = kaito::actors::spawn_machine(sys, options("m5", sup_.port, 1));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  const int32_t first_pid = wait_workers(sys, *m, all_idle).workers.at(0).pid;
  auto r =
      pod("pr1", "Always", {"--task=serve-self-test", "--duration-seconds=0", "--memory-mib=0"});
  r.container = "serve";
  auto probe = [&](const char* path, int32_t failures) {
    msg::probe_spec p;
    p.action = "http";
    p.path = path;
    p.port = (*srv)->port();
    p.period_s = 1;
    p.failure_threshold = failures;
    return p;
  };
  r.readiness_probe = probe("/ready", 1);
  r.liveness_probe = probe("/live", 2);
  command(sys, *m, r);
  auto with = [](const std::string& ready, const std::string& restarts, const std::string& text) {
    return [=](const event& e) {
      return report_of("pr1", "Running")(e) && e.f.at("ready") == ready &&
             e.f.at("restarts") == restarts && e.f.at("events").find(text) != std::string::npos;
    };
  };
  auto es = wait_events(sys, sup_.port, with("1", "0", ""));
  ASSERT_EQ(count(es, with("1", "0", "")), 1u) << "readiness passed and the worker is up";
  // Readiness fails: not ready, with the kubelet's event; passes again: ready.
  ready_code = 503;
  const std::string unready =
      "Warning:Unhealthy:Readiness probe failed: HTTP probe failed with "
      "statuscode: 503|";
  es = wait_events(sys, sup_.port, with("0", "0", unready));
  ASSERT_GE(count(es, with("0", "0", unready)), 1u);
  ready_code = 200;
  es = wait_events(sys, sup_.port, with("1", "0", ""), 2);
  ASSERT_EQ(count(es, with("1", "0", "")), 2u);
  // Liveness fails twice in a row: the container is stopped (its unit cancelled, which a serving
  // unit takes as its end: exit 0 within the grace, no SIGKILL), the pod restarts (Always) in a
  // fresh worker.
  live_code = 500;
  const std::string killing =
      "Normal:Killing:Container serve failed liveness probe, will be "
      "restarted|";
  es = wait_events(sys, sup_.port, with("0", "0", killing), 1, 10s);
  ASSERT_EQ(count(es, with("0", "0", killing)), 1u);
  live_code = 200;
  es = wait_events(sys, sup_.port, with("1", "1", ""));
  ASSERT_GE(count(es, with("1", "1", "")), 1u) << "ready again after the restart";
  // The killed container was reported as it ended (the first restart is at once), then as the
  // restarted one's lastState.
  size_t ended = 0, last_state = 0;
  for (const auto& e : es) {
    if (!report_of("pr1", "Running")(e)) continue;
    if (e.f.at("state") == "terminated" && e.f.at("restarts") == "0" && e.f.at("exit") == "0" &&
        e.f.at("reason") == "Completed" &&
        e.f.at("message").find("liveness probe failed 2 times: HTTP probe failed with statuscode: "
                               "500; gemm ") == 0)
      ++ended;
    if (e.f.at("restarts") == "1" && e.f.at("state").empty() && e.f.at("last_exit") == "0")
      ++last_state;
  }
  EXPECT_EQ(ended, 1u);
  EXPECT_GE(last_state, 1u);
  // The restarted container runs in a fresh worker process, as the kubelet's would: the one the
  // probe's stop left behind was replaced, and says why.
  const msg::worker_info w = workers_of(sys, *m).workers.at(0);
  EXPECT_NE(w.pid, first_pid);
  EXPECT_GT(w.pid, 0);
  EXPECT_EQ(w.restarts, 1u);
  EXPECT_EQ(
      w.last_exit.rfind("recycled after a failed probe (default/pod-pr1: liveness probe failed", 0),
      0u)
      << w.last_exit;

  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

TEST_F(machine_test, a_wrong_token_is_refused_and_never_heartbeats) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  std::mutex mu;
  std::string refusal;
  auto o = options("m-bad", sup_.port, 1, "ffffffffffffffffffffffffffffffff");
  o.on_refused = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    refusal = why;
  };
  auto m = kaito::actors::spawn_machine(sys, o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto hello = [](const event& e) { return e.kind == "hello" && e.f.at("name") == "m-bad"; };
  auto es = wait_events(sys, sup_.port, hello);
  ASSERT_GE(count(es, hello), 1u);
  for (const auto& e : es)
    if (hello(e)) EXPECT_EQ(e.f.at("token_ok"), "0");
  std::this_thread::sleep_for(1s);
  es = events_of(sys, sup_.port);
  EXPECT_EQ(count(es, [](const event& e) { return e.kind == "heartbeat"; }), 0u);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(refusal, "invalid join token");
  }
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

TEST_F(machine_test, killed_workers_restart_and_their_pods_follow_restart_policy) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto m = kaito::actors::spawn_machine(sys, options("m3", sup_.port, 1));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto l = wait_workers(sys, *m, all_idle);
  ASSERT_TRUE(all_idle(l));
  const int32_t first_pid = l.workers[0].pid;
  const std::vector<std::string> long_run = {"--task=self-test", "--duration-seconds=60",
                                             "--gemm-size=64", "--memory-mib=1"};

  // restartPolicy Never: kill -9 of the worker fails the pod with 137.
  command(sys, *m, pod("never1", "Never", long_run));
  auto es = wait_events(sys, sup_.port, report_of("never1", "Running"));
  ASSERT_GE(count(es, report_of("never1", "Running")), 1u);
  l = workers_of(sys, *m);
  ASSERT_EQ(l.workers[0].pod_uid, "never1");
  ASSERT_EQ(l.workers[0].pod, "default/pod-never1");
  ASSERT_EQ(kill(first_pid, SIGKILL), 0);
  es = wait_events(sys, sup_.port, report_of("never1", "Failed"));
  ASSERT_EQ(count(es, report_of("never1", "Failed")), 1u);
  for (const auto& e : es)
    if (report_of("never1", "Failed")(e)) {
      EXPECT_EQ(e.f.at("exit"), "137");
      EXPECT_EQ(e.f.at("reason"), "Error");
      EXPECT_EQ(e.f.at("message"), "worker process killed by signal 9");
    }
  l = wait_workers(sys, *m, all_idle);
  ASSERT_TRUE(all_idle(l));
  EXPECT_EQ(l.workers[0].restarts, 1u);
  EXPECT_NE(l.workers[0].pid, first_pid);
  EXPECT_NE(l.workers[0].last_exit.find("signal 9"), std::string::npos) << l.workers[0].last_exit;

  // restartPolicy Always: the shell's kill_worker; the pod is re-run with restart_count 1.
  command(sys, *m, pod("always1", "Always", long_run));
  es = wait_events(sys, sup_.port, report_of("always1", "Running"));
  ASSERT_GE(count(es, report_of("always1", "Running")), 1u);
  caf::scoped_actor self{sys};
  msg::command_reply reply;
  self->request(*m, 3s, msg::kill_worker{"m3/0"})
      .receive([&](msg::command_reply& r) { reply = r; }, [&](caf::error&) {});
  EXPECT_TRUE(reply.ok) << reply.message;
  self->request(*m, 3s, msg::kill_worker{"m3/7"})
      .receive([&](msg::command_reply& r) { EXPECT_FALSE(r.ok); }, [&](caf::error&) {});
  auto rerun = [](const event& e) {
    return report_of("always1", "Running")(e) && e.f.at("restarts") == "1" &&
           e.f.at("reason").empty();
  };
  es = wait_events(sys, sup_.port, rerun);
  EXPECT_GE(count(es, rerun), 1u);
  EXPECT_EQ(count(es, report_of("always1", "Failed")), 0u);
  l = wait_workers(sys, *m, [](const msg::worker_list& w) {
    return w.workers[0].pod_uid == "always1" && w.workers[0].state == "running";
  });
  ASSERT_EQ(l.workers[0].pod_uid, "always1");
  EXPECT_EQ(l.workers[0].restarts, 2u);
  const int32_t third_pid = l.workers[0].pid;

  // stop_pod: the worker cancels the unit well within the 2 s grace; no kill, no report.
  command(sys, *m, msg::stop_pod{"default", "pod-always1", "always1"});
  l = wait_workers(sys, *m, all_idle, 1800ms);
  ASSERT_TRUE(all_idle(l));
  EXPECT_EQ(l.workers[0].pod_uid, "");
  EXPECT_EQ(l.workers[0].pid, third_pid);
  EXPECT_EQ(l.workers[0].restarts, 2u);
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

// The kubelet's CrashLoopBackOff: the first restart at once, then the back-off doubling to its
// maximum, each wait reported as a waiting container with the kubelet's message and a BackOff
// event; a pod stopped while it waits is dropped.
TEST_F(machine_test, a_crashing_pod_backs_off_as_the_kubelet_does) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto o = options("m7", sup_.port, 1);
  o.restart_backoff = 300ms;
  o.max_restart_backoff = 1000ms;
  auto m = kaito::actors::spawn_machine(sys, o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  wait_workers(sys, *m, all_idle);
  auto r = pod("crash1", "Always", {"--task=self-test", "--memory-mib=x"});
  r.container = "tune";
  const auto t0 = std::chrono::steady_clock::now();
  command(sys, *m, r);
  auto waiting = [](const std::string& restarts, const std::string& delay) {
    return [=](const event& e) {
      return report_of("crash1", "Running")(e) && e.f.at("state") == "waiting" &&
             e.f.at("restarts") == restarts && e.f.at("reason") == "CrashLoopBackOff" &&
             e.f.at("ready") == "0" && e.f.at("last_exit") == "2" &&
             e.f.at("message") == "back-off " + delay +
                                      " restarting failed container=tune pod=pod-crash1_default("
                                      "crash1)" &&
             e.f.at("events") ==
                 "Warning:BackOff:Back-off restarting failed container tune in pod "
                 "pod-crash1_default(crash1)|";
    };
  };
  // restarts 1 waits 300 ms, 2 waits 600 ms, 3 and 4 wait the 1 s maximum.
  auto es = wait_events(sys, sup_.port, waiting("4", "1s"), 1, 20s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(count(es, waiting("1", "300ms")), 1u);
  EXPECT_EQ(count(es, waiting("2", "600ms")), 1u);
  EXPECT_EQ(count(es, waiting("3", "1s")), 1u);
  ASSERT_EQ(count(es, waiting("4", "1s")), 1u);
  EXPECT_GE(elapsed, 1900ms) << "the back-offs were waited out";
  auto ended_at_once = [](const event& e) {
    return report_of("crash1", "Running")(e) && e.f.at("state") == "terminated" &&
           e.f.at("restarts") == "0" && e.f.at("exit") == "2" && e.f.at("reason") == "InvalidArgs";
  };
  EXPECT_EQ(count(es, ended_at_once), 1u) << "only the first end restarts at once";
  // Stopped while it waits: no restart follows.
  command(sys, *m, msg::stop_pod{"default", "pod-crash1", "crash1"});
  std::this_thread::sleep_for(1500ms);
  es = events_of(sys, sup_.port);
  auto restarted5 = [](const event& e) {
    return report_of("crash1", "Running")(e) && e.f.at("restarts") == "5";
  };
  EXPECT_EQ(count(es, restarted5), 0u);
  auto l = workers_of(sys, *m);
  ASSERT_EQ(l.workers.size(), 1u);
  EXPECT_EQ(l.workers[0].pod_uid, "");
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

TEST_F(machine_test, after_the_supervisor_returns_the_machine_says_hello_with_its_pods) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto m = kaito::actors::spawn_machine(sys, options("m4", sup_.port, 1));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto l = wait_workers(sys, *m, all_idle);
  ASSERT_TRUE(all_idle(l));
  command(sys, *m,
          pod("serve1", "Always", {"--task=serve-self-test", "--gemm-size=64", "--memory-mib=1"}));
  auto ready = [](const event& e) {
    return report_of("serve1", "Running")(e) && e.f.at("ready") == "1";
  };
  auto es = wait_events(sys, sup_.port, ready);
  ASSERT_GE(count(es, ready), 1u);
  // Its worker serves on the machine's network from slot 0: container ports shifted by 0.
  for (const auto& e : es)
    if (ready(e)) EXPECT_EQ(e.f.at("offset"), "0");

  const uint16_t port = sup_.port;
  sup_.kill9();
  std::this_thread::sleep_for(500ms);
  sup_.start(port);
  ASSERT_EQ(sup_.port, port);
  auto hello = [](const event& e) {
    return e.kind == "hello" && e.f.at("name") == "m4" && e.f.at("running") == "serve1";
  };
  auto beat = [](const event& e) {
    return e.kind == "heartbeat" && e.f.at("name") == "m4" && e.f.at("running") == "serve1" &&
           e.f.at("busy") == "1";
  };
  es = wait_events(sys, sup_.port, beat, 2);
  EXPECT_EQ(count(es, hello), 1u);
  EXPECT_GE(count(es, beat), 2u);
  // The worker kept running through the outage: same process, no restart.
  auto after = workers_of(sys, *m);
  ASSERT_EQ(after.workers.size(), 1u);
  EXPECT_EQ(after.workers[0].pid, l.workers[0].pid);
  EXPECT_EQ(after.workers[0].restarts, 0u);
  EXPECT_EQ(after.workers[0].pod_uid, "serve1");
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

// A unit that does not check for cancellation in time (one long GEMM) is killed after the grace.
TEST_F(machine_test, a_pod_that_ignores_stop_is_killed_after_the_grace) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto o = options("m5", sup_.port, 1);
  o.stop_grace = 60s;  // the pod's own grace (run_pod.termination_grace_ms) decides
  auto m = kaito::actors::spawn_machine(sys, o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto l = wait_workers(sys, *m, all_idle);
  ASSERT_TRUE(all_idle(l));
  // 2 * 3072^3 = 58 GFLOP in one sgemm call: seconds on any CPU, far beyond 200 ms.
  auto slow = pod("slow1", "Never", {"--task=self-test", "--gemm-size=3072", "--memory-mib=0"});
  slow.termination_grace_ms = 200;
  command(sys, *m, slow);
  auto es = wait_events(sys, sup_.port, report_of("slow1", "Running"));
  ASSERT_GE(count(es, report_of("slow1", "Running")), 1u);
  command(sys, *m, msg::stop_pod{"default", "pod-slow1", "slow1"});
  l = wait_workers(
      sys, *m, [](const msg::worker_list& w) { return all_idle(w) && w.workers[0].restarts == 1; });
  ASSERT_TRUE(all_idle(l));
  EXPECT_EQ(l.workers[0].restarts, 1u);
  EXPECT_NE(l.workers[0].last_exit.find("signal 9"), std::string::npos);
  EXPECT_NE(l.workers[0].pid, 0);
  // A stopped (deleted) pod gets no terminal report.
  es = events_of(sys, sup_.port);
  EXPECT_EQ(count(es, report_of("slow1", "Failed")), 0u);
  EXPECT_EQ(count(es, report_of("slow1", "Succeeded")), 0u);
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

// A container whose liveness probe fails but that does not stop within its grace (one long GEMM
// between cancellation checks; the probe's terminationGracePeriodSeconds before the pod's) has
// its worker SIGKILLed once the grace has passed.
TEST_F(machine_test, a_container_failing_liveness_that_ignores_the_stop_is_killed) {
  auto srv = kaito::actors::http_server::start(
      {}, [](const kaito::actors::http_call&, kaito::actors::http_reply& r) { r.status = 500; });
  ASSERT_TRUE(srv.ok()) << srv.error().to_string();
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto o = options("m8", sup_.port, 1);
  o.stop_grace = 60s;  // the pod's own grace decides
  auto m = kaito::actors::spawn_machine(sys, o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  wait_workers(sys, *m, all_idle);
  // 2 * 3072^3 = 58 GFLOP per sgemm call, checked for cancellation between calls: far beyond
  // the 50 ms grace.
  auto r = pod("live1", "Never",
               {"--task=self-test", "--gemm-size=3072", "--duration-seconds=60", "--memory-mib=0"});
  r.termination_grace_ms = 60000;              // the pod's grace is not the one that applies:
  r.liveness_probe.termination_grace_ms = 50;  // the probe's own is
  r.liveness_probe.action = "http";
  r.liveness_probe.path = "/live";
  r.liveness_probe.port = (*srv)->port();
  r.liveness_probe.period_s = 1;
  r.liveness_probe.failure_threshold = 1;
  command(sys, *m, r);
  auto failed = [](const event& e) {
    return report_of("live1", "Failed")(e) && e.f.at("exit") == "137" &&
           e.f.at("message").find("liveness probe failed") != std::string::npos &&
           e.f.at("message").find("worker process killed by signal 9") != std::string::npos;
  };
  auto es = wait_events(sys, sup_.port, failed, 1, 30s);
  EXPECT_EQ(count(es, failed), 1u);
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
}

// `kaito up`'s case: the supervisor is an actor of the same process, handed over as a handle.
TEST_F(machine_test, an_in_process_supervisor_is_used_directly) {
  kaito::actors::runtime_config cfg;
  caf::actor_system sys{cfg};
  auto local = sys.spawn(test_supervisor, good_token);
  machine_stopper stop_local{caf::actor_cast<caf::actor_addr>(local), sys};
  auto o = options("m6", 0, 1);
  o.supervisor_host.clear();
  o.supervisor = local;
  auto m = kaito::actors::spawn_machine(sys, o);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  machine_stopper stop_machine{caf::actor_cast<caf::actor_addr>(*m), sys};
  auto beat = [](const event& e) { return e.kind == "heartbeat" && e.f.at("name") == "m6"; };
  auto es = wait_events(sys, local, beat, 2);
  EXPECT_GE(count(es, beat), 2u);
  command(sys, *m,
          pod("local1", "OnFailure", {"--task=self-test", "--gemm-size=64", "--memory-mib=1"}));
  es = wait_events(sys, local, report_of("local1", "Succeeded"));
  EXPECT_EQ(count(es, report_of("local1", "Succeeded")), 1u);
  // OnFailure re-runs a failed unit (bad args fail every time): the failure is reported, then
  // the rerun with restart_count 1.
  command(sys, *m, pod("local2", "OnFailure", {"--task=self-test", "--memory-mib=x"}));
  auto failed = [](const event& e) {
    return report_of("local2", "Running")(e) && e.f.at("restarts") == "0" &&
           e.f.at("reason") == "InvalidArgs" && e.f.at("state") == "terminated";
  };
  auto rerun = [](const event& e) {
    return report_of("local2", "Running")(e) && e.f.at("restarts") == "1" &&
           e.f.at("state").empty() && e.f.at("last_exit") != "";
  };
  es = wait_events(sys, local, rerun);
  EXPECT_EQ(count(es, failed), 1u);
  EXPECT_EQ(count(es, rerun), 1u);
  // local2 went to the worker the moment local1's result came back: the worker was free already
  // (a worker that sent its result before marking itself free turned it away as "Busy").
  auto busy = [](const event& e) { return e.kind == "report" && e.f.at("reason") == "Busy"; };
  EXPECT_EQ(count(es, busy), 0u);
  command(sys, *m, msg::stop_pod{"default", "pod-local2", "local2"});
  caf::anon_send_exit(*m, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* fd = getenv("KAITO_TEST_SUPERVISOR_FD")) {
    const char* port = getenv("KAITO_TEST_SUPERVISOR_PORT");
    run_test_supervisor(std::atoi(fd), static_cast<uint16_t>(port ? std::atoi(port) : 0),
                        good_token);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
