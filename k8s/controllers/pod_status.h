// pod_status: what a machine reports about a pod it runs, and how that becomes the Pod's status
// (the kubelet's status manager, for kaito-cpp's worker processes).
//
// apply_pod_report writes status.phase, the conditions PodScheduled / Initialized /
// ContainersReady / Ready, containerStatuses[0] (state waiting/running/terminated, lastState,
// restartCount, ready, started: a running pod's container may wait in CrashLoopBackOff or have
// just ended), hostIP (the node's InternalIP), podIP (the same address once the
// container has started: kaito-cpp's pods are processes on the machine's network, as with
// hostNetwork) and startTime, with one update_status under the pod's resourceVersion (retried on
// conflict), and only when something changed. A report that carries a host port offset is first
// recorded in the annotation kHostPortOffsetAnnotation (one merge patch, only when it differs):
// the pod's container ports answer at podIP:(containerPort + offset), which is what the Endpoints
// controller publishes and the API server's proxy dials. A report whose uid differs from the live
// pod's is about an older pod of the same name (evicted and re-created) and is ignored, as is a
// report for a pod that no longer exists. A terminal pod (Succeeded/Failed) never goes back to
// running.
//
// Thread-safety: free functions; the client is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "k8s/client/client.h"

namespace kaito::k8s::controllers {

enum class pod_phase_value { pending, running, succeeded, failed };

// The container of a running pod: running (as the phase says), waiting to be restarted (reason
// CrashLoopBackOff), or terminated and about to be restarted.
enum class container_state_value { running, waiting, terminated };

// lastState.terminated: how the previous container ended.
struct container_termination {
  int32_t exit_code = 0;
  std::string reason;
  std::string message;
  std::chrono::system_clock::time_point started_at{};  // epoch: unknown
  std::chrono::system_clock::time_point finished_at{};
};

struct pod_report {
  std::string uid;  // the pod's metadata.uid the machine was given
  pod_phase_value phase = pod_phase_value::pending;
  bool ready = false;
  int32_t restart_count = 0;
  int32_t exit_code = 0;  // terminated only
  std::string reason;     // terminated: "Completed" / "Error" / "OOMKilled"; waiting: e.g.
                          // "ContainerCreating"
  std::string message;
  std::chrono::system_clock::time_point started_at{};   // epoch: unknown
  std::chrono::system_clock::time_point finished_at{};  // epoch: unknown
  int32_t host_port_offset = -1;  // -1: unknown (the annotation is left as it is)
  // Read while the phase is running: waiting uses reason/message, terminated also exit_code
  // and finished_at.
  container_state_value container = container_state_value::running;
  std::optional<container_termination> last;  // none: the recorded lastState stays
};

// "kaito.sh/host-port-offset": decimal, the shift of the pod's container ports on its host.
inline constexpr const char* kHostPortOffsetAnnotation = "kaito.sh/host-port-offset";
// The pod's offset from that annotation: 0 when absent; an unreadable value is 0 too.
int32_t host_port_offset(const json& pod);

const char* phase_name(pod_phase_value p);

// The status the report yields over `pod` (pure: exposed for tests). `now` is RFC 3339, used for
// transitions; host_ip may be empty.
json pod_status_from_report(const json& pod, const pod_report& r, const std::string& host_ip,
                            const std::string& now);

// Returns true when a status write happened.
result<bool> apply_pod_report(client& c, const std::string& ns, const std::string& name,
                              const pod_report& r);

}  // namespace kaito::k8s::controllers
