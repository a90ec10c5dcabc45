// machine; see machine.h. The behaviour is a dispatch table: every handler delegates to a
// plain function over machine_state (this file) or to machine_pods.cpp's pod bookkeeping.
#include "actors/machine.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "actors/machine_resources.h"
#include "actors/machine_state.h"
#include "actors/probe_check.h"
#include "actors/token.h"
#include "actors/worker_process.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"

namespace kaito::actors {

namespace {

using namespace std::chrono_literals;
using self_ptr = caf::stateful_actor<machine_state>*;

// Internal messages (never cross processes).
using start_atom = caf::atom_constant<caf::atom("m_start")>;
using connect_atom = caf::atom_constant<caf::atom("m_connect")>;
using beat_atom = caf::atom_constant<caf::atom("m_beat")>;
using poll_atom = caf::atom_constant<caf::atom("m_poll")>;
using restart_atom = caf::atom_constant<caf::atom("m_restart")>;
using deadline_atom = caf::atom_constant<caf::atom("m_stopdl")>;
using kill_deadline_atom = caf::atom_constant<caf::atom("m_killdl")>;
using requeue_atom = caf::atom_constant<caf::atom("m_requeue")>;
using probe_tick_atom = caf::atom_constant<caf::atom("m_ptick")>;
using probe_done_atom = caf::atom_constant<caf::atom("m_pdone")>;

constexpr auto poll_interval = 100ms;
constexpr auto request_timeout = 5s;

void start_worker(self_ptr self, uint32_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  s.token = generate_token();
  ++s.generation;
  child_spec spec;
  spec.binary = st.binary;
  spec.args = {"worker",          "--machine", "127.0.0.1:" + std::to_string(st.port),
               "--token",         s.token,     "--slot",
               std::to_string(i), "--device",  st.device_of(i)};
  if (st.resources.gpus > 0) spec.env.push_back("CUDA_VISIBLE_DEVICES=" + std::to_string(i));
  if (!st.opt.models_dir.empty()) spec.env.push_back("KAITO_MODELS_DIR=" + st.opt.models_dir);
  if (!st.opt.model_image.empty()) spec.env.push_back("KAITO_MODEL_IMAGE=" + st.opt.model_image);
  if (!st.opt.model_docker_config.empty())
    spec.env.push_back("KAITO_MODEL_DOCKER_CONFIG=" + st.opt.model_docker_config);
  auto pid = start_child_process(spec);
  s.started = std::chrono::steady_clock::now();
  if (!pid.ok()) {
    log_error(st.log, "cannot start worker",
              {{"slot", std::to_string(i)}, {"error", pid.error().to_string()}});
    s.last_exit = "start failed: " + pid.error().to_string();
    s.state = "restarting";
    self->delayed_send(self, st.next_backoff(i), restart_atom::value, i, s.generation);
    return;
  }
  s.pid = *pid;
  s.state = "starting";
  log_info(st.log, "worker started", {{"slot", std::to_string(i)}, {"pid", std::to_string(s.pid)}});
}

void schedule_probes(self_ptr self, const std::string& uid,
                     const std::vector<probe_timer>& timers) {
  for (const auto& t : timers)
    self->delayed_send(self, t.delay, probe_tick_atom::value, uid, static_cast<uint8_t>(t.kind),
                       t.run, t.tick);
}

// A due check runs on a detached actor of its own (it blocks for up to timeoutSeconds); its
// outcome comes back as probe_done.
void probe_tick(self_ptr self, const std::string& uid, uint8_t kind, uint64_t run, uint64_t tick) {
  if (kind > static_cast<uint8_t>(probe_kind::readiness)) return;
  auto job = self->state.on_probe_timer(uid, static_cast<probe_kind>(kind), run, tick);
  if (!job) return;
  auto me = caf::actor_cast<caf::actor>(self);
  self->home_system().spawn<caf::detached>(
      [me, job = std::move(*job), kind](caf::blocking_actor* b) {
        probe_outcome o = run_probe_check(job.spec, job.host, job.port_offset, job.cancel.get());
        b->send(me, probe_done_atom::value, job.uid, kind, job.run, o.ok, o.output);
      });
}

void send_work(self_ptr self, const std::vector<assignment>& todo) {
  for (const auto& a : todo) {
    auto& st = self->state;
    self->send(st.slots[a.slot].handle, a.unit);
    st.report(a.uid, "Running");
    schedule_probes(self, a.uid, a.timers);
  }
}

// A pod's container restarts once its back-off has passed.
void schedule_restart(self_ptr self, const std::optional<pod_restart>& r) {
  if (r) self->delayed_send(self, r->delay, requeue_atom::value, r->uid, r->ticket);
}

void flush_reports(self_ptr self) {
  auto& st = self->state;
  if (!st.connected) return;
  for (auto& r : st.take_outbox()) self->send(st.sup, std::move(r));
}

void schedule_connect(self_ptr self) {
  auto& st = self->state;
  auto delay = st.reconnect_backoff;
  st.reconnect_backoff = std::min(st.reconnect_backoff * 2, st.opt.max_reconnect_backoff);
  self->delayed_send(self, delay, connect_atom::value, st.epoch);
}

void heartbeat(self_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (!st.connected || epoch != st.epoch) return;
  self->send(st.sup, st.make_heartbeat());
  self->delayed_send(self, std::chrono::milliseconds(st.heartbeat_ms), beat_atom::value, epoch);
}

void on_welcome(self_ptr self, const msg::machine_welcome& w, uint64_t epoch) {
  auto& st = self->state;
  if (epoch != st.epoch) return;
  if (!w.accepted) {
    log_error(st.log, "supervisor refused this machine", {{"reason", w.reason}});
    if (st.opt.on_refused) st.opt.on_refused(w.reason);
    st.reconnect_backoff = st.opt.max_reconnect_backoff;
    schedule_connect(self);
    return;
  }
  st.connected = true;
  st.reconnect_backoff = 100ms;
  if (!w.node_name.empty()) st.node_name = w.node_name;
  st.heartbeat_ms = std::clamp<uint32_t>(w.heartbeat_interval_ms, 50, 60000);
  self->monitor(st.sup);
  log_info(st.log, "welcomed by the supervisor", {{"node", st.node_name}});
  flush_reports(self);
  heartbeat(self, epoch);
}

void say_hello(self_ptr self, uint64_t epoch) {
  auto& st = self->state;
  self->request(st.sup, request_timeout, st.make_hello())
      .then([=](const msg::machine_welcome& w) { on_welcome(self, w, epoch); },
            [=](caf::error& e) {
              if (epoch != self->state.epoch) return;
              log_warn(self->state.log, "hello failed", {{"error", to_string(e)}});
              schedule_connect(self);
            });
}

void try_connect(self_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (epoch != st.epoch || st.connected) return;
  if (st.opt.supervisor) {
    st.sup = st.opt.supervisor;
    say_hello(self, epoch);
    return;
  }
  auto mm = self->home_system().middleman().actor_handle();
  self->request(mm, request_timeout, caf::connect_atom::value, st.opt.supervisor_host,
                st.opt.supervisor_port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
            auto& s = self->state;
            if (epoch != s.epoch) return;
            if (!ptr || !self->home_system().assignable<msg::supervisor_actor>(ifs)) {
              log_warn(s.log, "no supervisor at the address (or another protocol)",
                       {{"address", s.supervisor_address()}});
              schedule_connect(self);
              return;
            }
            s.sup = caf::actor_cast<msg::supervisor_actor>(ptr);
            say_hello(self, epoch);
          },
          [=](caf::error& e) {
            if (epoch != self->state.epoch) return;
            // Quiet while backing off; once at the longest backoff, one line per attempt.
            auto& s = self->state;
            if (s.reconnect_backoff >= s.opt.max_reconnect_backoff)
              log_warn(s.log, "cannot reach the supervisor; retrying",
                       {{"address", s.supervisor_address()}, {"error", to_string(e)}});
            schedule_connect(self);
          });
}

void on_down(self_ptr self, const caf::down_msg& d) {
  auto& st = self->state;
  if (st.sup && d.source == caf::actor_cast<caf::actor_addr>(st.sup)) {
    log_warn(st.log, "supervisor lost; workers keep running", {{"reason", to_string(d.reason)}});
    st.connected = false;
    st.sup = nullptr;
    ++st.epoch;
    st.reconnect_backoff = 100ms;
    schedule_connect(self);
    return;
  }
  // A worker's actor went down: its process is exiting; look now rather than at the next tick.
  self->send(self, poll_atom::value);
}

void poll_children(self_ptr self) {
  auto& st = self->state;
  for (uint32_t i = 0; i < st.slots.size(); ++i) {
    auto& s = st.slots[i];
    if (s.pid <= 0) continue;
    auto status = poll_child_exit(s.pid);
    if (!status) continue;
    const bool recycled = !s.recycled_for.empty();  // (after_done killed it on purpose)
    (recycled ? log_info : log_warn)(st.log, recycled ? "worker replaced" : "worker process exited",
                                     {{"slot", std::to_string(i)},
                                      {"pid", std::to_string(s.pid)},
                                      {"exit", describe_wait_status(*status)}});
    schedule_restart(self, st.on_worker_exit(i, *status));
    self->delayed_send(self, st.next_backoff(i), restart_atom::value, i, s.generation);
  }
  send_work(self, st.dispatch());
  flush_reports(self);
}

msg::worker_welcome on_worker_hello(self_ptr self, const msg::worker_hello& h) {
  auto& st = self->state;
  std::string why = st.check_worker_hello(h);
  if (!why.empty()) {
    log_warn(st.log, "worker refused", {{"slot", std::to_string(h.slot)}, {"reason", why}});
    return {false, why};
  }
  auto handle = caf::actor_cast<msg::worker_actor>(self->current_sender());
  st.worker_ready(h.slot, handle, h.pid);
  self->monitor(handle);
  send_work(self, st.dispatch());
  flush_reports(self);
  return {true, ""};
}

void stop(self_ptr self, const msg::stop_pod& s) {
  auto& st = self->state;
  int slot = st.stop(s.uid);
  if (slot >= 0) {  // the kubelet's SIGTERM, then SIGKILL once the grace has passed
    const auto grace = st.stop_grace_of(s.uid);
    self->send(st.slots[slot].handle, msg::cancel_work{s.uid, grace.count()});
    self->delayed_send(self, grace, deadline_atom::value, static_cast<uint32_t>(slot), s.uid);
  }
  send_work(self, st.dispatch());
}

void stop_deadline(self_ptr self, uint32_t slot, const std::string& uid) {
  auto& st = self->state;
  if (slot >= st.slots.size() || st.slots[slot].pod_uid != uid || st.slots[slot].pid <= 0) return;
  log_warn(st.log, "worker did not stop its pod in time; killing it",
           {{"slot", std::to_string(slot)}, {"uid", uid}});
  kill(st.slots[slot].pid, SIGKILL);
}

// The kubelet's kill of a container whose startup or liveness probe failed: SIGTERM (its unit
// cancelled with the probe's terminationGracePeriodSeconds, else the pod's), then SIGKILL of the
// worker once that has passed (kill_deadline). Its end restarts the pod as restartPolicy says.
void kill_container(self_ptr self, const std::string& uid, probe_kind k, pid_t victim) {
  auto& st = self->state;
  auto it = st.pods.find(uid);
  auto grace = st.stop_grace_of(uid);
  if (it != st.pods.end()) {  // the probe's own terminationGracePeriodSeconds comes first
    const msg::probe_spec& probe =
        k == probe_kind::startup ? it->second.spec.startup_probe : it->second.spec.liveness_probe;
    if (probe.termination_grace_ms >= 0)
      grace = std::chrono::milliseconds(probe.termination_grace_ms);
  }
  if (it == st.pods.end() || it->second.slot < 0 || grace.count() <= 0 ||
      !st.slots[size_t(it->second.slot)].handle) {
    kill(victim, SIGKILL);
    return;
  }
  const auto slot = static_cast<uint32_t>(it->second.slot);
  self->send(st.slots[slot].handle, msg::cancel_work{uid, grace.count()});
  self->delayed_send(self, grace, kill_deadline_atom::value, slot, uid,
                     it->second.container_started_ms);
}

void kill_deadline(self_ptr self, uint32_t slot, const std::string& uid, int64_t started_ms) {
  auto& st = self->state;
  auto it = st.pods.find(uid);
  if (slot >= st.slots.size() || st.slots[slot].pod_uid != uid || st.slots[slot].pid <= 0 ||
      it == st.pods.end() || it->second.container_started_ms != started_ms ||
      it->second.kill_message.empty())
    return;  // that container ended (or the pod went) meanwhile
  log_warn(st.log, "container did not stop within its grace after a failed probe; killing it",
           {{"slot", std::to_string(slot)}, {"uid", uid}});
  kill(st.slots[slot].pid, SIGKILL);
}

void probe_done(self_ptr self, const std::string& uid, uint8_t kind, uint64_t run, bool ok,
                const std::string& output) {
  auto [timers, victim] =
      self->state.on_probe_result(uid, static_cast<probe_kind>(kind), run, ok, output);
  if (victim > 0) kill_container(self, uid, static_cast<probe_kind>(kind), victim);
  schedule_probes(self, uid, timers);
  flush_reports(self);
}

void after_done(self_ptr self, const msg::work_done& d) {
  auto& st = self->state;
  schedule_restart(self, st.on_done(d));
  // A container stopped for a failed probe restarts in a fresh worker: this one is idle now
  // (its unit ended) and runs nothing more; its exit restarts the slot (poll_children).
  for (uint32_t slot : st.take_recycled()) {
    log_info(st.log, "replacing the worker of a container stopped for a failed probe",
             {{"slot", std::to_string(slot)}, {"pid", std::to_string(st.slots[slot].pid)}});
    kill(st.slots[slot].pid, SIGKILL);
  }
  send_work(self, st.dispatch());
  flush_reports(self);
}

// Commands (run/stop pods, list/kill workers) come from the supervisor's node or this process;
// anything else reaching the worker port (another local process) is refused.
bool trusted(self_ptr self) {
  const auto& from = self->current_sender();
  if (!from) return false;
  if (from->node() == self->node()) return true;
  return self->state.sup && from->node() == self->state.sup.node();
}

bool from_this_process(self_ptr self) {
  const auto& from = self->current_sender();
  return from && from->node() == self->node();
}

// Progress and results are accepted only from the worker that runs the pod.
bool from_pod_worker(self_ptr self, const std::string& uid) {
  auto& st = self->state;
  auto it = st.pods.find(uid);
  if (it == st.pods.end() || it->second.slot < 0) return false;
  const auto& h = st.slots[it->second.slot].handle;
  return h && caf::actor_cast<caf::actor_addr>(self->current_sender()) ==
                  caf::actor_cast<caf::actor_addr>(h);
}

void refuse(self_ptr self, const char* what) {
  const auto& from = self->current_sender();
  log_warn(
      self->state.log, "command from an untrusted sender refused",
      {{"command", what}, {"from", from ? to_string(from->node()) : std::string("anonymous")}});
}

caf::behavior machine_actor_fn(self_ptr self, machine_options o, std::string binary,
                               msg::machine_resources res, std::shared_ptr<pods_dir_claim> claim) {
  self->state.init(std::move(o), std::move(binary), std::move(res));
  self->state.pods_claim = std::move(claim);
  self->set_down_handler([=](caf::down_msg& d) { on_down(self, d); });
  return {
      [=](start_atom, uint16_t port) {
        self->state.port = port;
        for (uint32_t i = 0; i < self->state.slots.size(); ++i) start_worker(self, i);
        self->send(self, connect_atom::value, self->state.epoch);
        self->delayed_send(self, poll_interval, poll_atom::value, true);
      },
      [=](connect_atom, uint64_t epoch) { try_connect(self, epoch); },
      [=](beat_atom, uint64_t epoch) { heartbeat(self, epoch); },
      [=](poll_atom) { poll_children(self); },
      [=](poll_atom, bool) {
        poll_children(self);
        self->delayed_send(self, poll_interval, poll_atom::value, true);
      },
      [=](restart_atom, uint32_t i, uint64_t gen) {
        auto& s = self->state.slots[i];
        if (s.generation == gen && s.pid <= 0) start_worker(self, i);
      },
      [=](deadline_atom, uint32_t slot, const std::string& uid) { stop_deadline(self, slot, uid); },
      [=](kill_deadline_atom, uint32_t slot, const std::string& uid, int64_t started_ms) {
        if (from_this_process(self)) kill_deadline(self, slot, uid, started_ms);
      },
      // Probe timers and results come from this process only (the timers from the machine, the
      // results from its probe actors): nobody else may fail a pod's probe.
      [=](probe_tick_atom, const std::string& uid, uint8_t kind, uint64_t run, uint64_t tick) {
        if (from_this_process(self)) probe_tick(self, uid, kind, run, tick);
      },
      [=](probe_done_atom, const std::string& uid, uint8_t kind, uint64_t run, bool ok,
          const std::string& output) {
        if (from_this_process(self)) probe_done(self, uid, kind, run, ok, output);
      },
      [=](requeue_atom, const std::string& uid, uint64_t ticket) {
        if (!from_this_process(self)) return;
        self->state.requeue(uid, ticket);
        send_work(self, self->state.dispatch());
        flush_reports(self);
      },
      [=](msg::run_pod& r) {
        if (!trusted(self)) return refuse(self, "run_pod");
        self->state.add_pod(std::move(r));
        send_work(self, self->state.dispatch());
        flush_reports(self);
      },
      [=](const msg::stop_pod& s) {
        if (!trusted(self)) return refuse(self, "stop_pod");
        stop(self, s);
      },
      [=](const msg::list_workers&) {
        if (!trusted(self)) return msg::worker_list{};
        return self->state.workers();
      },
      [=](const msg::kill_worker& k) {
        if (!trusted(self)) return msg::command_reply{false, "not allowed"};
        return self->state.kill(k.worker_id);
      },
      [=](const msg::worker_hello& h) { return on_worker_hello(self, h); },
      [=](const msg::work_progress& p) {
        if (!from_pod_worker(self, p.uid)) return;
        schedule_probes(self, p.uid, self->state.on_progress(p));
        flush_reports(self);
      },
      [=](const msg::work_done& d) {
        if (from_pod_worker(self, d.uid)) after_done(self, d);
      },
  };
}

}  // namespace

result<msg::machine_actor> spawn_machine(caf::actor_system& sys, const machine_options& o) {
  std::string binary = o.worker_binary.empty() ? self_executable() : o.worker_binary;
  if (binary.empty() || access(binary.c_str(), X_OK) != 0)
    return io_error("worker binary is not executable", binary.empty() ? "/proc/self/exe" : binary);
  if (!o.supervisor && (o.supervisor_host.empty() || o.supervisor_port == 0))
    return invalid_argument("no supervisor: want an in-process handle or host:port",
                            "supervisor_host");
  auto res = detect_machine_resources(o.slots);
  machine_options opts = o;
  // By machine name and process: machines of one process (tests) and PID 1 of several containers
  // (same pid, other names) each get their own. `kaito up` and `kaito join --pods-dir` give a
  // lasting folder instead, which a restart clears.
  if (opts.pods_dir.empty())
    opts.pods_dir = (std::filesystem::temp_directory_path() /
                     ("kaito-pods-" + (o.name.empty() ? default_machine_name() : o.name) + "-" +
                      std::to_string(::getpid())))
                        .string();
  auto claim = claim_pods_dir(opts.pods_dir);
  if (!claim.ok()) return claim.error();
  if (!claim->removed.empty())
    log_warn(logger("machine"), "removed pod directories an earlier run left",
             {{"pods_dir", opts.pods_dir}, {"count", std::to_string(claim->removed.size())}});
  auto held = std::make_shared<pods_dir_claim>(std::move(*claim));
  auto a = sys.spawn(machine_actor_fn, opts, binary, res, held);
  auto typed = caf::actor_cast<msg::machine_actor>(a);
  auto port = sys.middleman().publish(typed, 0, "127.0.0.1", true);
  if (!port) {
    caf::anon_send_exit(a, caf::exit_reason::kill);
    return io_error("cannot publish the machine's worker port: " + sys.render(port.error()),
                    "127.0.0.1");
  }
  caf::anon_send(a, start_atom::value, *port);
  return typed;
}

}  // namespace kaito::actors
