// machine: the actor of one node. It owns the node's gpu_worker processes (`kaito worker`
// children, one per slot), says hello to the supervisor with the join token, heartbeats, runs
// the pods the supervisor binds to it and reports their phases.
//
//   spawn_machine --> connecting --connect+hello--> welcomed --heartbeat every interval-->
//        ^                |  refused: logged, on_refused(reason), retried at max backoff
//        |                v  error / timeout: retried with backoff (100 ms doubling to max)
//        +---- supervisor down (down_msg): workers keep running; hello again listing the pods
//
//   run_pod --> queue --(free, welcomed worker)--> work_unit --> Running reports (progress)
//           --> work_done --> Succeeded | Failed (restartPolicy Never) or re-run (Always/OnFailure)
//   stop_pod --> cancel_work; not done within the pod's terminationGracePeriodSeconds (run_pod;
//           else stop_grace, 2 s): SIGKILL (the worker is restarted)
//   worker process exit --> restarted after a backoff (0.5 s doubling to 10 s, reset after 30 s
//           up); its pod: Failed exit 128+signal (Never) or re-run
//   a re-run is the kubelet's container restart: the ended container is reported (terminated,
//           then lastState), the first restart is at once, later ones wait out a back-off
//           (10 s doubling to 5 min: waiting CrashLoopBackOff, a BackOff Event); restart_count
//           counts the containers started again
//   the pod's probes (actors/pod_probes.h) --> each check on a detached actor of its own;
//           Ready = the worker's ready signal and readiness; a failed startup or liveness probe
//           stops the container as the kubelet does: its unit is cancelled with the pod's
//           terminationGracePeriodSeconds (0: at once), then its worker SIGKILLed if still
//           running it; its end restarts the pod as restartPolicy says; failures become Events
//
// A pod uid is never run twice: a run_pod for a uid it runs or queues is ignored, and one for a
// uid it already finished gets the terminal report again. Terminal reports that could not be
// sent (supervisor away) are sent after the next welcome. The worker port is published on
// 127.0.0.1 only; each child gets its own random token on its command line. Commands (run_pod,
// stop_pod, list_workers, kill_worker) are obeyed only when sent by an actor of this process or
// of the supervisor's node (anonymous ones are refused); work_progress/work_done only from the
// worker actor that runs that pod.
// Thread-safety: an actor; spawn_machine may be called from any non-actor thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "protocol/messages/interfaces.h"

namespace caf {
class actor_system;
}

namespace kaito::actors {

struct machine_options {
  std::string name;           // Node name; "" = sanitized hostname
  std::string instance_type;  // "" = may stand for any instanceType
  uint32_t slots = 0;         // worker processes; 0 = number of GPUs, or 1 without GPUs
  std::vector<msg::label> labels;
  std::string token;  // join token
  std::string supervisor_host;
  uint16_t supervisor_port = 0;      // remote supervisor (kaito join)
  msg::supervisor_actor supervisor;  // in-process supervisor (kaito up); used when valid
  std::string worker_binary;         // the `kaito` binary for workers; "" = /proc/self/exe
  std::chrono::milliseconds max_reconnect_backoff{5000};
  std::string address;  // reported InternalIP ("" = 127.0.0.1 or the route to the supervisor)
  // Added by the machine helper:
  std::string kaito_version;  // sent in the hello
  // Called (on an actor thread) each time the supervisor refuses the hello, with its reason.
  std::function<void(const std::string& reason)> on_refused;
  // stop_pod of a pod without a termination grace: cancel, then SIGKILL after this
  std::chrono::milliseconds stop_grace{2000};
  // The kubelet's container restart back-off (CrashLoopBackOff): a pod's first restart is at
  // once, each later one waits restart_backoff, doubled per restart up to max_restart_backoff,
  // counted from the container's end; back to the start once the last restart is more than
  // twice the maximum ago (the container ran that long).
  std::chrono::milliseconds restart_backoff{10000};
  std::chrono::milliseconds max_restart_backoff{300000};
  // Each pod's own directory is <pods_dir>/<uid>, mode 0700 (its work_unit.root: projected volumes,
  // /mnt/results...), removed when the pod ends; "" = <tmp>/kaito-pods-<name>-<pid>. The machine
  // locks the folder and clears what an earlier run left at start (actors/pods_dir.h): one machine
  // per folder.
  std::string pods_dir;
  // Where Hugging Face model folders live, one per preset name (<models_dir>/<preset>/); given
  // to the workers as KAITO_MODELS_DIR. "" = not set (tuning pods then fail, naming it).
  std::string models_dir;
  // A model image to pull a missing preset from, "{preset}" standing for its name, and a
  // .dockerconfigjson for it; given to the workers as KAITO_MODEL_IMAGE and
  // KAITO_MODEL_DOCKER_CONFIG (actors/model_store.h). "" = none.
  std::string model_image, model_docker_config;
};

// Spawns the machine actor and publishes it on 127.0.0.1:<ephemeral> for its workers; returns
// once both are done (workers start and the supervisor is contacted asynchronously). Errors:
// io_error when the worker binary is not executable or the port cannot be published.
result<msg::machine_actor> spawn_machine(caf::actor_system& sys, const machine_options& o);

}  // namespace kaito::actors
