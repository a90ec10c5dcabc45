// machine_state: the machine actor's bookkeeping as plain functions (no messaging): worker
// slots, the pods it runs or queues, the reports it owes the supervisor, backoffs. The actor
// (machine.cpp) sends what these functions decide. Not thread-safe: owned by one actor.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/machine.h"
#include "actors/pod_probes.h"
#include "actors/pods_dir.h"

namespace spdlog {
class logger;
}

namespace kaito::actors {

struct worker_slot {
  pid_t pid = 0;                   // 0 while not running
  std::string token;               // this incarnation's secret (from its command line)
  uint64_t generation = 0;         // bumped per start: stale restart timers are ignored
  msg::worker_actor handle;        // set by its worker_hello
  std::string state = "starting";  // starting | idle | running | recycling | restarting
  std::string pod_uid;
  uint32_t restarts = 0;
  std::string last_exit;
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds backoff{500};
  uint32_t progress_permille = 0;
  std::string progress;
  std::string recycled_for;  // set while recycling: why this worker is being replaced
};

struct pod_entry {
  msg::run_pod spec;
  int32_t restart_count = 0;         // containers started after the first
  int64_t container_started_ms = 0;  // the latest container's start; 0: none started yet
  msg::container_exit last_exit;     // how the last container ended (lastState)
  // CrashLoopBackOff, the kubelet's container back-off (machine_restarts.cpp): the delay before
  // the next restart (0: none restarted yet), and when the last restart happened.
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point last_restart;
  bool backing_off = false;  // waiting for that delay: the container is in CrashLoopBackOff
  std::string backoff_message;
  uint64_t restart_ticket = 0;  // the pending restart timer's; an older timer is stale
  int slot = -1;                // -1 = queued or backing off
  std::string root;             // <pods_dir>/<uid>: projected volumes, the unit's files
  bool stopping = false;
  bool ready = false;  // the worker says so (a server listens); Ready also needs the probes
  pod_probes probes;   // its startup / liveness / readiness probes (machine_probes.cpp)
  // Why the machine is stopping this run's container ("liveness probe failed ..."): set from the
  // failed probe until the container ends (no more probes meanwhile), cleared at the next start.
  std::string kill_message;
};

// A pod to re-queue after its back-off, when the timer with this ticket fires.
struct pod_restart {
  std::string uid;
  std::chrono::milliseconds delay{0};
  uint64_t ticket = 0;
};

struct assignment {
  uint32_t slot = 0;
  std::string uid;
  msg::work_unit unit;
  std::vector<probe_timer> timers;  // its probes' first checks
};

// A probe check to run now: the spec against the pod's address, ports shifted by its slot.
struct probe_job {
  std::string uid;
  probe_kind kind;
  uint64_t run = 0;
  msg::probe_spec spec;
  std::string host;
  int32_t port_offset = 0;
  std::shared_ptr<const std::atomic<bool>> cancel;  // machine_state::probes_cancel
};

struct machine_state {
  machine_options opt;
  std::string binary;
  msg::machine_resources resources;
  std::string node_name;
  std::string address;
  uint16_t port = 0;
  std::vector<worker_slot> slots;
  std::map<std::string, pod_entry> pods;
  std::deque<std::string> queue;
  std::map<std::string, msg::pod_report> finished;  // terminal reports, the last 1024 pods
  std::deque<std::string> finished_order;
  std::vector<msg::pod_report> outbox;  // reports not yet sent
  msg::supervisor_actor sup;
  bool connected = false;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint32_t heartbeat_ms = 1000;
  std::chrono::milliseconds reconnect_backoff{100};
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<pods_dir_claim> pods_claim;  // opt.pods_dir's lock, held for the machine's life
  // Set when the machine ends: probe checks still running give up at once.
  std::shared_ptr<std::atomic<bool>> probes_cancel = std::make_shared<std::atomic<bool>>(false);

  static inline const char* name = "machine";

  machine_state() = default;
  machine_state(const machine_state&) = delete;
  machine_state& operator=(const machine_state&) = delete;
  ~machine_state();  // stops every worker process (SIGTERM, then SIGKILL); cancels probes

  void init(machine_options o, std::string bin, msg::machine_resources res);
  std::string device_of(uint32_t slot) const;
  std::string supervisor_address() const;
  // The delay before slot's next start; doubles to 10 s, back to 0.5 s after 30 s up.
  std::chrono::milliseconds next_backoff(uint32_t slot);

  msg::machine_hello make_hello() const;
  msg::machine_heartbeat make_heartbeat();
  std::vector<msg::pod_report> take_outbox();

  void add_pod(msg::run_pod r);
  std::vector<assignment> dispatch();  // queued pods -> idle welcomed workers
  void report(const std::string& uid, const std::string& phase);  // a Running report
  // A progress report; the probes brought forward when the worker says the pod is up.
  std::vector<probe_timer> on_progress(const msg::work_progress& p);
  // Restarts (machine_restarts.cpp). A finished unit, or the exit of the worker that ran one:
  // the pod ends (restartPolicy) or its container restarts, at once (queued again) or after the
  // back-off, when the returned timer fires.
  // A unit stopped for a failed liveness or startup probe leaves its worker "recycling": the
  // kubelet restarts a container as a fresh process, so the worker is replaced before it runs
  // anything again (take_recycled: the slots whose worker the machine must kill now).
  std::optional<pod_restart> on_done(const msg::work_done& d);
  std::vector<uint32_t> take_recycled();
  std::optional<pod_restart> on_worker_exit(uint32_t slot, int wait_status);
  void requeue(const std::string& uid, uint64_t ticket);  // a back-off ended
  std::vector<uint32_t> recycle_;    // slots on_done left recycling, for take_recycled
  int stop(const std::string& uid);  // the slot to cancel, or -1 (queued/unknown: just dropped)
  // How long a stopped pod's unit may take to end: its termination grace, else opt.stop_grace.
  std::chrono::milliseconds stop_grace_of(const std::string& uid) const;

  std::string check_worker_hello(const msg::worker_hello& h) const;  // "" = accept
  void worker_ready(uint32_t slot, msg::worker_actor handle, int32_t pid);

  // Probes (machine_probes.cpp). A timer fired: the check to run, if due.
  std::optional<probe_job> on_probe_timer(const std::string& uid, probe_kind k, uint64_t run,
                                          uint64_t tick);
  // A check finished: reports what changed (Ready, Events); returns the next timers and, when
  // the probe asks for a restart, the pid to kill (0: none).
  std::pair<std::vector<probe_timer>, pid_t> on_probe_result(const std::string& uid, probe_kind k,
                                                             uint64_t run, bool ok,
                                                             const std::string& output);

  msg::worker_list workers() const;
  msg::command_reply kill(const std::string& worker_id);

 private:
  void erase_pod(std::map<std::string, pod_entry>::iterator it);  // and remove its root
  msg::pod_report make_report(const pod_entry& p, const std::string& phase) const;
  void push_report(msg::pod_report r);
  void finish(const std::string& uid, msg::pod_report r);
  std::optional<pod_restart> restart_container(const std::string& uid, pod_entry& p,
                                               msg::container_exit ended);
};

int64_t unix_now_ms();

}  // namespace kaito::actors
