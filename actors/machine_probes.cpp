// machine_state's probe bookkeeping (see machine_state.h and pod_probes.h): which check runs
// when a timer fires, and what a result changes (Ready, Events, a worker to kill).
#include "actors/machine_state.h"
#include "base/log.h"

namespace kaito::actors {

std::optional<probe_job> machine_state::on_probe_timer(const std::string& uid, probe_kind k,
                                                       uint64_t run, uint64_t tick) {
  auto it = pods.find(uid);
  if (it == pods.end() || it->second.slot < 0 || it->second.stopping ||
      !it->second.kill_message.empty())  // (being killed: no more checks)
    return std::nullopt;
  pod_entry& p = it->second;
  auto spec = p.probes.on_timer(k, run, tick, std::chrono::steady_clock::now());
  if (!spec) return std::nullopt;
  // The pods are processes on this machine's network; the probe dials them here.
  return probe_job{uid, k, run, std::move(*spec), "127.0.0.1", p.slot, probes_cancel};
}

std::pair<std::vector<probe_timer>, pid_t> machine_state::on_probe_result(
    const std::string& uid, probe_kind k, uint64_t run, bool ok, const std::string& output) {
  auto it = pods.find(uid);
  if (it == pods.end() || it->second.slot < 0 || it->second.stopping ||
      !it->second.kill_message.empty())
    return {{}, 0};
  pod_entry& p = it->second;
  probe_verdict v =
      p.probes.on_result(k, run, ok, output, std::chrono::steady_clock::now(), p.spec.container);
  if (!ok)
    log_debug(log, "probe failed",
              {{"pod", p.spec.ns + "/" + p.spec.name},
               {"probe", probe_kind_name(k, true)},
               {"output", output}});
  if (v.kill) p.ready = false;  // being killed: out of the Service now
  if (v.ready_changed || !v.events.empty()) {
    auto r = make_report(p, "Running");
    r.events = std::move(v.events);
    push_report(std::move(r));
  }
  pid_t victim = 0;
  if (v.kill) {
    auto& s = slots[p.slot];
    p.kill_message = v.kill_message;
    victim = s.pid;
    log_warn(log, "probe failed: stopping the pod's container",
             {{"pod", p.spec.ns + "/" + p.spec.name},
              {"probe", probe_kind_name(k, true)},
              {"output", output},
              {"pid", std::to_string(s.pid)}});
  }
  return {std::move(v.timers), victim};
}

}  // namespace kaito::actors
