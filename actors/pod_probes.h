// pod_probes: the kubelet's prober for one pod's container, as plain state (no messaging, no
// clock): the machine actor runs the checks (actors/probe_check.h) and the timers, and does what
// the verdicts say.
//
//   pod_probes p(run.startup_probe, run.liveness_probe, run.readiness_probe);
//   for (auto t : p.start(now)) delayed_send(t.delay, tick(t.kind, t.run, t.tick));  // started
//   on tick:   if (auto c = p.on_timer(kind, run, tick, now)) run the check *c off the actor
//   on result: auto v = p.on_result(kind, run, ok, output, now, container);
//              v.timers (the next tick), v.events (to report), v.ready_changed, v.kill
//
// As the kubelet's probe workers: each probe counts a run of equal results and its result flips
// only when the run reaches the threshold (successThreshold successes, failureThreshold
// failures). Initial results: startup not yet succeeded (liveness and readiness are not run
// until it has), liveness success, readiness failure. Each start of the container (the first and
// every restart) resets them; the first check is initialDelaySeconds after it, the next ones
// periodSeconds after the previous one began. A startup probe that succeeded is not run again
// for that container. Startup or liveness failing past the threshold asks for a kill (the
// container is restarted by its restartPolicy) and stops all probes until the next start. Every
// failed check is a Warning "Unhealthy" event ("Liveness probe failed: <output>"); a kill adds a
// Normal "Killing" ("Container <name> failed liveness probe, will be restarted").
//
// Brought forward (not in the kubelet): when the worker says the pod is up (its own ready
// signal: the server listens), a startup or readiness probe that has not succeeded yet runs at
// once instead of up to a period later (initialDelaySeconds still holds), and readiness and
// liveness start as soon as startup succeeds; so a pod with probes turns Ready about as soon as
// one without them would.
//
// Timers carry (run, tick): a timer for an earlier start, or superseded by a brought-forward
// one, is stale and ignored. Not thread-safe: owned by the machine actor.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/messages/machine.h"

namespace kaito::actors {

enum class probe_kind : uint8_t { startup = 0, liveness = 1, readiness = 2 };

// "Startup" / "Liveness" / "Readiness"; lower case with lower = true.
const char* probe_kind_name(probe_kind k, bool lower = false);

struct probe_timer {
  probe_kind kind;
  uint64_t run;
  uint64_t tick;
  std::chrono::milliseconds delay;
};

struct probe_verdict {
  bool ready_changed = false;
  bool kill = false;         // startup or liveness failed: restart the container
  std::string kill_message;  // "liveness probe failed 3 times: <output>"
  std::vector<msg::pod_event> events;
  std::vector<probe_timer> timers;
};

class pod_probes {
 public:
  pod_probes() = default;
  pod_probes(const msg::probe_spec& startup, const msg::probe_spec& liveness,
             const msg::probe_spec& readiness);

  bool any() const;
  using time_point = std::chrono::steady_clock::time_point;

  // The container started (again): results reset; the first timers.
  std::vector<probe_timer> start(time_point now);
  // The container stopped (killed, exited, requeued): nothing runs until start().
  void stop();
  // A timer fired: the spec to check now, when the probe is due (timer current, no check in
  // flight, its phase: startup until it succeeds, the others after).
  std::optional<msg::probe_spec> on_timer(probe_kind k, uint64_t run, uint64_t tick,
                                          time_point now);
  // A check of this run finished (a stale one: an empty verdict).
  probe_verdict on_result(probe_kind k, uint64_t run, bool ok, const std::string& output,
                          time_point now, const std::string& container);
  // The worker says the pod is up: the probes that wait for that, brought forward.
  std::vector<probe_timer> on_listening(time_point now);

  bool started() const;  // no startup probe, or it succeeded in this run
  bool ready() const;    // started, and readiness succeeded (or there is none)
  bool running() const { return running_; }
  uint64_t run() const { return run_; }

 private:
  struct one {
    msg::probe_spec spec;
    bool result = false;  // the current result
    bool done = false;    // startup: succeeded (not run again this run)
    int32_t streak = 0;   // equal results in a row
    bool last = false;    // the result of that streak
    bool in_flight = false;
    uint64_t tick = 0;   // the current timer's number
    time_point began{};  // when the last check began
    bool has() const { return !spec.action.empty(); }
  };
  one& at(probe_kind k) { return probes_[static_cast<size_t>(k)]; }
  const one& at(probe_kind k) const { return probes_[static_cast<size_t>(k)]; }
  bool may_run(probe_kind k) const;
  probe_timer timer(probe_kind k, std::chrono::milliseconds delay);
  // The first check of k: initialDelaySeconds after the start, or now when that has passed.
  probe_timer first_timer(probe_kind k, time_point now);

  std::array<one, 3> probes_;
  uint64_t run_ = 0;
  time_point started_{};
  bool running_ = false;
};

}  // namespace kaito::actors
