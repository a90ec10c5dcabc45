// supervisor_pods: the supervisor's pod bookkeeping as plain functions (no CAF, no I/O): which pod
// must be started on which admitted machine, the conversion of a machine's pod_report into the
// controllers' report, and the per-pod buffer of progress lines behind `kaito shell logs`.
//
// A pod gets a run_pod when: spec.nodeName is a ready machine, it is not terminal and not being
// deleted, and its uid is neither in the machine's reported running_pod_uids nor already
// dispatched by this supervisor (so a pod never starts twice). The Pod's args are
// spec.containers[0].args; restartPolicy defaults to Always as in Kubernetes; the probes are its
// startupProbe / livenessProbe / readinessProbe.
//
// Thread-safety: pure functions; pod_log_buffer is a value owned by one actor.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/node_registry.h"
#include "k8s/controllers/pod_status.h"
#include "protocol/messages/machine.h"

namespace kaito::actors {

using json = nlohmann::json;

struct dispatched_pod {
  std::string node;
  std::string key;  // "ns/name"
};

// The run_pod to send for `pod`, or nullopt (see the header comment); its container's probes
// as actors/pod_probe_spec.h reads them, with what will not run in *probes_not_run.
std::optional<msg::run_pod> run_pod_for(const json& pod, const node_registry& reg,
                                        const std::map<std::string, dispatched_pod>& dispatched,
                                        std::vector<std::string>* probes_not_run = nullptr);

// nullopt when the phase is not one of Pending, Running, Succeeded, Failed, or the container
// state not "", "waiting" or "terminated".
std::optional<k8s::controllers::pod_report> to_controller_report(const msg::pod_report& r);

// The last `capacity` progress lines per pod ("ns/name"); a line equal to the previous one is
// not repeated.
class pod_log_buffer {
 public:
  explicit pod_log_buffer(size_t capacity = 200) : capacity_(capacity) {}
  // True when the line was appended (not a repeat).
  bool add(const std::string& pod_key, const std::string& line);
  void forget(const std::string& pod_key) { lines_.erase(pod_key); }
  const std::map<std::string, std::deque<std::string>>& all() const { return lines_; }

 private:
  size_t capacity_;
  std::map<std::string, std::deque<std::string>> lines_;
};

}  // namespace kaito::actors
