// The machine <-> supervisor conversation.
//
//   machine                                   supervisor
//     | -- machine_hello (token, resources) -->  |  token checked before anything else
//     | <-- machine_welcome (accepted?) -------  |  accepted: Node registered, heartbeats expected
//     | -- machine_heartbeat (every interval) -> |  missing for node-timeout: Node NotReady, pods
//     evicted | <-- run_pod / stop_pod ----------------  |  pods bound to this node (spec.nodeName)
//     | -- pod_report ------------------------>  |  written to the Pod's status (+ Events)
//     | <-- list_workers / kill_worker --------  |  the shell's `workers` and `kill`
//
// A machine that loses the supervisor keeps its workers running and says hello again (with the
// pods it still runs in running_pod_uids) until it is welcomed back. Times are Unix milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "protocol/messages/wire.h"

namespace kaito::msg {

struct machine_resources {
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  uint32_t gpus = 0;   // from NVML when present, else 0
  uint32_t slots = 0;  // gpu_worker processes this machine runs at once (GPUs, or CPU slots)
  std::vector<std::string> gpu_names;
  uint64_t gpu_memory_bytes = 0;  // per GPU
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, machine_resources& x) {
  return f(caf::meta::type_name("kaito.machine_resources.v1"), x.cpu_cores, x.memory_bytes, x.gpus,
           x.slots, x.gpu_names, x.gpu_memory_bytes);
}

struct machine_hello {
  uint32_t version = wire_version;
  std::string token;          // the join token; compared in constant time
  std::string name;           // becomes the Node name (DNS-1123 subdomain)
  std::string instance_type;  // "" = may stand for any instanceType
  machine_resources resources;
  std::vector<label> labels;  // extra Node labels
  std::vector<std::string> running_pod_uids;
  std::string address;  // host[:port] this machine reports as its InternalIP
  std::string kaito_version;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, machine_hello& x) {
  return f(caf::meta::type_name("kaito.machine_hello.v1"), x.version, x.token, x.name,
           x.instance_type, x.resources, x.labels, x.running_pod_uids, x.address, x.kaito_version);
}

struct machine_welcome {
  bool accepted = false;
  std::string reason;  // why not, when refused
  std::string node_name;
  uint32_t heartbeat_interval_ms = 1000;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, machine_welcome& x) {
  return f(caf::meta::type_name("kaito.machine_welcome.v1"), x.accepted, x.reason, x.node_name,
           x.heartbeat_interval_ms);
}

struct machine_heartbeat {
  std::string name;
  uint64_t seq = 0;
  uint32_t busy_slots = 0;
  std::vector<std::string> running_pod_uids;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, machine_heartbeat& x) {
  return f(caf::meta::type_name("kaito.machine_heartbeat.v1"), x.name, x.seq, x.busy_slots,
           x.running_pod_uids);
}

// One file of a Pod's secret or configMap volume, as the kubelet would project it: path is the
// container path (volumeMount.mountPath + "/" + the key or item path, e.g.
// /root/.docker/config.json), mode its permission bits, data the decoded bytes.
struct pod_file {
  std::string path;
  uint32_t mode = 0644;
  std::vector<uint8_t> data;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pod_file& x) {
  return f(caf::meta::type_name("kaito.pod_file.v1"), x.path, x.mode, x.data);
}

// One of a container's probes (core/v1 Probe) as the machine runs it: action "" = no probe,
// "http" (httpGet) or "tcp" (tcpSocket); exec and grpc probes are not run by kaito's node agent
// (the supervisor says so in an Event and sends none). port is the container port (a named port
// already resolved); the machine adds the pod's host port offset. Defaults are the API's.
struct probe_spec {
  std::string action;
  std::string scheme = "HTTP";  // HTTP | HTTPS (not verified, as the kubelet's)
  std::string host;             // "" = the pod's address (127.0.0.1 on its machine)
  std::string path = "/";
  int32_t port = 0;
  std::vector<label> headers;  // httpHeaders: name, value
  int32_t initial_delay_s = 0;
  int32_t period_s = 10;
  int32_t timeout_s = 1;
  int32_t success_threshold = 1;
  int32_t failure_threshold = 3;
  // terminationGracePeriodSeconds of a liveness or startup probe: the grace of the stop its
  // failure causes, instead of the pod's; -1: the pod's.
  int64_t termination_grace_ms = -1;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, probe_spec& x) {
  return f(caf::meta::type_name("kaito.probe_spec.v2"), x.action, x.scheme, x.host, x.path, x.port,
           x.headers, x.initial_delay_s, x.period_s, x.timeout_s, x.success_threshold,
           x.failure_threshold, x.termination_grace_ms);
}

// Run the pod's (single) container on this machine. args are `kaito worker` flags from the
// Pod's spec.containers[0].args (for example --task=self-test --duration-seconds=5); files are
// its projected secret / configMap volumes, written under the pod's own directory; the probes
// are its startupProbe, livenessProbe and readinessProbe (actors/pod_probes.h).
struct run_pod {
  std::string ns;
  std::string name;
  std::string uid;
  std::string restart_policy;  // Always | OnFailure | Never
  std::vector<std::string> args;
  std::vector<pod_file> files;
  std::string container;  // spec.containers[0].name, for Events
  probe_spec startup_probe;
  probe_spec liveness_probe;
  probe_spec readiness_probe;
  // spec.terminationGracePeriodSeconds in ms: how long a stop waits for the unit to end (an
  // inference server finishes the answers in progress) before the worker is killed; -1: the
  // machine's stop_grace.
  int64_t termination_grace_ms = -1;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_pod& x) {
  return f(caf::meta::type_name("kaito.run_pod.v5"), x.ns, x.name, x.uid, x.restart_policy, x.args,
           x.files, x.container, x.startup_probe, x.liveness_probe, x.readiness_probe,
           x.termination_grace_ms);
}

struct stop_pod {
  std::string ns;
  std::string name;
  std::string uid;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stop_pod& x) {
  return f(caf::meta::type_name("kaito.stop_pod.v1"), x.ns, x.name, x.uid);
}

// An Event about a pod: type Normal | Warning, reason (Unhealthy, Killing, ...), message.
struct pod_event {
  std::string type;
  std::string reason;
  std::string message;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pod_event& x) {
  return f(caf::meta::type_name("kaito.pod_event.v1"), x.type, x.reason, x.message);
}

// How a pod's container ended: its lastState.terminated once the pod restarted it.
struct container_exit {
  int32_t exit_code = 0;
  std::string reason;  // Error, Completed, OOMKilled...
  std::string message;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0: there was no earlier container
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_exit& x) {
  return f(caf::meta::type_name("kaito.container_exit.v1"), x.exit_code, x.reason, x.message,
           x.started_at_ms, x.finished_at_ms);
}

struct pod_report {
  std::string ns;
  std::string name;
  std::string uid;
  std::string node;
  std::string phase;  // Pending | Running | Succeeded | Failed
  bool ready = false;
  int32_t restart_count = 0;
  int32_t exit_code = 0;
  std::string reason;  // e.g. Completed, Error, OOMKilled, WorkerLost
  std::string message;
  int64_t started_at_ms = 0;  // the running (or ended) container's start
  int64_t finished_at_ms = 0;
  uint32_t progress_permille = 0;
  std::string progress;  // one human line, e.g. "gemm 512^3 41.2 GFLOP/s, 3/5 s"
  // The pod runs on the machine's network with its container ports shifted by this much (its
  // worker slot: `kaito worker --port=5000` listens on 5000 + slot); -1 = not running in a slot.
  int32_t host_port_offset = -1;
  // What the machine did or saw that the kubelet reports as Events on the Pod (a failed probe,
  // a container killed for it), oldest first.
  std::vector<pod_event> events;
  // The container of a Running pod: "" running; "waiting" to be restarted after a back-off
  // (reason CrashLoopBackOff, message "back-off 20s restarting failed container=..."); or
  // "terminated": it ended (exit_code, reason, message, finished_at_ms) and restarts at once.
  std::string container_state;
  container_exit last_exit;  // the previous container's end, once the pod restarted one
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pod_report& x) {
  return f(caf::meta::type_name("kaito.pod_report.v4"), x.ns, x.name, x.uid, x.node, x.phase,
           x.ready, x.restart_count, x.exit_code, x.reason, x.message, x.started_at_ms,
           x.finished_at_ms, x.progress_permille, x.progress, x.host_port_offset, x.events,
           x.container_state, x.last_exit);
}

struct worker_info {
  std::string id;  // "<machine>/<slot>"
  uint32_t slot = 0;
  int32_t pid = 0;    // 0 while not running
  std::string state;  // starting | idle | running | restarting
  std::string pod;    // ns/name, "" when idle
  std::string pod_uid;
  uint32_t restarts = 0;
  std::string last_exit;  // e.g. "signal 9 at 2026-11-28T22:10:00Z"
  uint32_t progress_permille = 0;
  std::string progress;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_info& x) {
  return f(caf::meta::type_name("kaito.worker_info.v1"), x.id, x.slot, x.pid, x.state, x.pod,
           x.pod_uid, x.restarts, x.last_exit, x.progress_permille, x.progress);
}

struct list_workers {};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_workers&) {
  return f(caf::meta::type_name("kaito.list_workers.v1"));
}

struct worker_list {
  std::string machine;
  std::vector<worker_info> workers;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_list& x) {
  return f(caf::meta::type_name("kaito.worker_list.v1"), x.machine, x.workers);
}

// Kill a worker process with SIGKILL (the machine then restarts it): by worker id or slot.
struct kill_worker {
  std::string worker_id;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kill_worker& x) {
  return f(caf::meta::type_name("kaito.kill_worker.v1"), x.worker_id);
}

struct command_reply {
  bool ok = false;
  std::string message;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_reply& x) {
  return f(caf::meta::type_name("kaito.command_reply.v1"), x.ok, x.message);
}

}  // namespace kaito::msg
