// pod_probes; see pod_probes.h.
#include "actors/pod_probes.h"

#include <algorithm>

namespace kaito::actors {

namespace {

using ms = std::chrono::milliseconds;

// The API's lower bounds (validation would refuse less; a stored pod may still carry 0).
msg::probe_spec normalized(msg::probe_spec s, bool single_success) {
  s.initial_delay_s = std::max(s.initial_delay_s, 0);
  s.period_s = std::max(s.period_s, 1);
  s.timeout_s = std::max(s.timeout_s, 1);
  s.failure_threshold = std::max(s.failure_threshold, 1);
  s.success_threshold = single_success ? 1 : std::max(s.success_threshold, 1);
  return s;
}

ms until(pod_probes::time_point when, pod_probes::time_point now) {
  return when <= now ? ms(0) : std::chrono::duration_cast<ms>(when - now);
}

}  // namespace

const char* probe_kind_name(probe_kind k, bool lower) {
  switch (k) {
    case probe_kind::startup:
      return lower ? "startup" : "Startup";
    case probe_kind::liveness:
      return lower ? "liveness" : "Liveness";
    case probe_kind::readiness:
      return lower ? "readiness" : "Readiness";
  }
  return "";
}

pod_probes::pod_probes(const msg::probe_spec& startup, const msg::probe_spec& liveness,
                       const msg::probe_spec& readiness) {
  at(probe_kind::startup).spec = normalized(startup, true);
  at(probe_kind::liveness).spec = normalized(liveness, true);
  at(probe_kind::readiness).spec = normalized(readiness, false);
}

bool pod_probes::any() const {
  return std::any_of(probes_.begin(), probes_.end(), [](const one& p) { return p.has(); });
}

bool pod_probes::started() const {
  const one& s = at(probe_kind::startup);
  return !s.has() || s.done;
}

bool pod_probes::ready() const {
  const one& r = at(probe_kind::readiness);
  return started() && (!r.has() || r.result);
}

bool pod_probes::may_run(probe_kind k) const {
  const one& p = at(k);
  if (!p.has()) return false;
  return k == probe_kind::startup ? !p.done : started();
}

probe_timer pod_probes::timer(probe_kind k, ms delay) {
  return {k, run_, ++at(k).tick, delay};
}

probe_timer pod_probes::first_timer(probe_kind k, time_point now) {
  return timer(k, until(started_ + std::chrono::seconds(at(k).spec.initial_delay_s), now));
}

std::vector<probe_timer> pod_probes::start(time_point now) {
  ++run_;
  running_ = true;
  started_ = now;
  for (size_t i = 0; i < probes_.size(); ++i) {
    one& p = probes_[i];
    p.result = static_cast<probe_kind>(i) == probe_kind::liveness;  // liveness: success
    p.done = false;
    p.streak = 0;
    p.in_flight = false;
  }
  std::vector<probe_timer> out;
  for (probe_kind k : {probe_kind::startup, probe_kind::liveness, probe_kind::readiness})
    if (may_run(k)) out.push_back(first_timer(k, now));
  return out;
}

void pod_probes::stop() {
  running_ = false;
  for (one& p : probes_) p.in_flight = false;
}

std::optional<msg::probe_spec> pod_probes::on_timer(probe_kind k, uint64_t run, uint64_t tick,
                                                    time_point now) {
  one& p = at(k);
  if (!running_ || run != run_ || tick != p.tick || p.in_flight || !may_run(k)) return std::nullopt;
  p.in_flight = true;
  p.began = now;
  return p.spec;
}

probe_verdict pod_probes::on_result(probe_kind k, uint64_t run, bool ok, const std::string& output,
                                    time_point now, const std::string& container) {
  probe_verdict v;
  one& p = at(k);
  if (!running_ || run != run_ || !p.in_flight) return v;
  p.in_flight = false;
  const bool was_ready = ready();
  p.streak = (p.streak > 0 && p.last == ok) ? p.streak + 1 : 1;
  p.last = ok;
  if (!ok)
    v.events.push_back(
        {"Warning", "Unhealthy", std::string(probe_kind_name(k)) + " probe failed: " + output});
  const bool failed = !ok && p.streak >= p.spec.failure_threshold;
  if (ok && p.streak >= p.spec.success_threshold) p.result = true;
  if (failed) p.result = false;

  if (failed && k != probe_kind::readiness) {  // startup or liveness failed: restart
    v.kill = true;
    v.kill_message = std::string(probe_kind_name(k, true)) + " probe failed " +
                     std::to_string(p.streak) + " times: " + output;
    v.events.push_back({"Normal", "Killing",
                        "Container " + (container.empty() ? std::string("main") : container) +
                            " failed " + probe_kind_name(k, true) + " probe, will be restarted"});
    stop();
    v.ready_changed = was_ready != ready();
    return v;
  }
  if (k == probe_kind::startup && p.result) {
    p.done = true;  // not run again; the others begin
    for (probe_kind o : {probe_kind::liveness, probe_kind::readiness})
      if (may_run(o)) v.timers.push_back(first_timer(o, now));
  } else {
    v.timers.push_back(timer(k, until(p.began + std::chrono::seconds(p.spec.period_s), now)));
  }
  v.ready_changed = was_ready != ready();
  return v;
}

std::vector<probe_timer> pod_probes::on_listening(time_point now) {
  std::vector<probe_timer> out;
  if (!running_) return out;
  for (probe_kind k : {probe_kind::startup, probe_kind::readiness}) {
    one& p = at(k);
    if (may_run(k) && !p.in_flight && !p.result) out.push_back(first_timer(k, now));
  }
  return out;
}

}  // namespace kaito::actors
