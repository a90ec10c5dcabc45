// machine_state's restarts (see machine_state.h and machine.h): a pod's unit finished or its
// worker died, and restartPolicy decides between the end of the pod and a new container, which
// starts at once or after the kubelet's back-off (CrashLoopBackOff).
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "actors/machine_state.h"
#include "actors/worker_process.h"
#include "base/log.h"

namespace kaito::actors {

namespace {

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A duration as Go's time.Duration prints it, as the kubelet's messages do: "10s", "2m40s",
// "5m0s", "1h0m0s", "500ms", "1.5s".
std::string go_duration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms <= 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  std::string secs = std::to_string(s);
  if (frac) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    secs += f;
  }
  secs += "s";
  if (h) return std::to_string(h) + "h" + std::to_string(m) + "m" + secs;
  if (m) return std::to_string(m) + "m" + secs;
  return secs;
}

}  // namespace

// The kubelet's doBackOff with flowcontrol.Backoff (no jitter): a pod with no back-off yet, or
// whose last restart is older than twice the maximum, restarts at once and its back-off starts
// at restart_backoff; otherwise the restart waits the current back-off, which then doubles.
std::optional<pod_restart> machine_state::restart_container(const std::string& uid, pod_entry& p,
                                                            msg::container_exit ended) {
  auto now = std::chrono::steady_clock::now();
  bool fresh = p.backoff.count() == 0 || now - p.last_restart > 2 * opt.max_restart_backoff;
  auto delay = fresh ? std::chrono::milliseconds(0) : p.backoff;
  p.backoff = fresh ? opt.restart_backoff : std::min(p.backoff * 2, opt.max_restart_backoff);
  p.last_restart = now + delay;
  p.ready = false;
  const std::string pod = p.spec.name + "_" + p.spec.ns + "(" + uid + ")";
  const std::string container = p.spec.container.empty() ? "main" : p.spec.container;
  if (delay.count() == 0) {
    // It ended: terminated, while lastState still tells of the one before. Then started again.
    auto r = make_report(p, "Running");
    r.container_state = "terminated";
    r.exit_code = ended.exit_code;
    r.reason = ended.reason;
    r.message = ended.message;
    r.finished_at_ms = ended.finished_at_ms;
    p.last_exit = std::move(ended);
    push_report(std::move(r));
    queue.push_front(uid);
    return std::nullopt;
  }
  p.last_exit = std::move(ended);
  p.backing_off = true;
  p.backoff_message = "back-off " + go_duration(delay) +
                      " restarting failed container=" + container + " pod=" + pod;
  auto r = make_report(p, "Running");
  r.events.push_back({"Warning", "BackOff",
                      "Back-off restarting failed container " + container + " in pod " + pod});
  push_report(std::move(r));
  log_info(log, "pod container back-off",
           {{"pod", p.spec.ns + "/" + p.spec.name}, {"delay", go_duration(delay)}});
  return pod_restart{uid, delay, ++p.restart_ticket};
}

std::optional<pod_restart> machine_state::on_done(const msg::work_done& d) {
  auto it = pods.find(d.uid);
  if (it == pods.end()) return std::nullopt;
  pod_entry& p = it->second;
  if (p.slot < 0 && !p.stopping) return std::nullopt;  // stale: it was requeued meanwhile
  if (p.slot >= 0) {
    auto& s = slots[p.slot];
    if (s.pod_uid == d.uid) {
      s.pod_uid.clear();
      s.state = s.handle ? "idle" : s.state;
      s.progress.clear();
      s.progress_permille = 0;
      // Stopped for a failed probe: whatever hung it may still hold this process (threads, a
      // device context); the next container gets a fresh worker, as the kubelet's would.
      if (!p.kill_message.empty() && !p.stopping && s.pid > 0) {
        s.state = "recycling";
        s.recycled_for = p.spec.ns + "/" + p.spec.name + ": " + p.kill_message;
        recycle_.push_back(static_cast<uint32_t>(p.slot));
      }
    }
    p.slot = -1;
  }
  p.probes.stop();
  if (p.stopping) {
    log_info(log, "pod stopped", {{"uid", d.uid}});
    erase_pod(it);
    return std::nullopt;
  }
  bool success = d.exit_code == 0;
  // Stopped for a failed probe (kill_container): the kubelet's reasons, and the probe's message.
  const bool killed = !p.kill_message.empty();
  std::string reason = success ? "Completed" : (d.reason.empty() || killed ? "Error" : d.reason);
  std::string message =
      killed ? p.kill_message + (d.message.empty() ? "" : "; " + d.message) : d.message;
  p.kill_message.clear();
  const std::string& policy = p.spec.restart_policy;
  if (policy == "Always" || (policy == "OnFailure" && !success)) {
    msg::container_exit ended;
    ended.exit_code = d.exit_code;
    ended.reason = std::move(reason);
    ended.message = std::move(message);
    ended.started_at_ms = p.container_started_ms;
    ended.finished_at_ms = unix_now_ms();
    return restart_container(d.uid, p, std::move(ended));
  }
  auto r = make_report(p, success ? "Succeeded" : "Failed");
  r.ready = false;
  r.exit_code = d.exit_code;
  r.reason = std::move(reason);
  r.message = std::move(message);
  log_info(log, "pod finished",
           {{"uid", d.uid},
            {"phase", r.phase},
            {"exit_code", std::to_string(d.exit_code)},
            {"message", r.message}});
  finish(d.uid, std::move(r));
  return std::nullopt;
}

void machine_state::requeue(const std::string& uid, uint64_t ticket) {
  auto it = pods.find(uid);
  if (it == pods.end() || it->second.slot >= 0 || it->second.stopping) return;
  if (!it->second.backing_off || it->second.restart_ticket != ticket) return;
  if (std::find(queue.begin(), queue.end(), uid) == queue.end()) queue.push_back(uid);
}

std::vector<uint32_t> machine_state::take_recycled() {
  return std::exchange(recycle_, {});
}

std::optional<pod_restart> machine_state::on_worker_exit(uint32_t i, int wait_status) {
  auto& s = slots[i];
  std::string how = describe_wait_status(wait_status);
  s.pid = 0;
  s.handle = nullptr;
  ++s.restarts;
  s.last_exit = how + " at " + iso_now();
  if (!s.recycled_for.empty())
    s.last_exit = "recycled after a failed probe (" + s.recycled_for + ") at " + iso_now();
  s.recycled_for.clear();
  s.state = "restarting";
  s.progress.clear();
  s.progress_permille = 0;
  std::string uid;
  uid.swap(s.pod_uid);
  auto it = pods.find(uid);
  if (uid.empty() || it == pods.end()) return std::nullopt;
  pod_entry& p = it->second;
  p.slot = -1;
  p.ready = false;
  p.probes.stop();
  if (p.stopping) {
    erase_pod(it);
    return std::nullopt;
  }
  std::string message = "worker process " +
                        std::string(WIFSIGNALED(wait_status) ? "killed by " : "exited with ") + how;
  if (!p.kill_message.empty()) message = p.kill_message + "; " + message;
  p.kill_message.clear();
  if (p.spec.restart_policy == "Never") {
    auto r = make_report(p, "Failed");
    r.exit_code = exit_code_of(wait_status);
    r.reason = "Error";
    r.message = message;
    finish(uid, std::move(r));
    return std::nullopt;
  }
  msg::container_exit ended;
  ended.exit_code = exit_code_of(wait_status);
  ended.reason = "Error";
  ended.message = message;
  ended.started_at_ms = p.container_started_ms;
  ended.finished_at_ms = unix_now_ms();
  return restart_container(uid, p, std::move(ended));
}

}  // namespace kaito::actors
