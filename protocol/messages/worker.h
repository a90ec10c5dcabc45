// The gpu_worker <-> machine conversation (a `kaito worker` child process and its machine, over
// 127.0.0.1).
//
//   worker process                          machine
//     | -- worker_hello (slot, token) ---->   |  token: a per-child secret from the command line
//     | <-- worker_welcome ---------------    |
//     | <-- work_unit ----------------------  |  one at a time per worker
//     | -- work_progress (every ~0.5 s) --->  |  -> pod_report(Running, progress)
//     | -- work_done ---------------------->  |  -> pod_report(Succeeded|Failed)
//     | <-- cancel_work --------------------  |  the pod was deleted
//
// A worker that dies (kill -9, crash) is seen by the machine through its process exit and the
// monitor on the worker actor; the machine restarts the process and reports the exit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "protocol/messages/wire.h"

namespace kaito::msg {

struct worker_hello {
  uint32_t version = wire_version;
  std::string token;
  uint32_t slot = 0;
  int32_t pid = 0;
  std::string device;  // e.g. "cpu" or "cuda:0 NVIDIA H200"
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_hello& x) {
  return f(caf::meta::type_name("kaito.worker_hello.v1"), x.version, x.token, x.slot, x.pid,
           x.device);
}

struct worker_welcome {
  bool accepted = false;
  std::string reason;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_welcome& x) {
  return f(caf::meta::type_name("kaito.worker_welcome.v1"), x.accepted, x.reason);
}

struct work_unit {
  std::string uid;                // the pod uid
  std::string pod;                // ns/name
  std::vector<std::string> args;  // --task=self-test --duration-seconds=5 ...
  // The pod's own directory on the machine: container paths (/mnt/results, the projected
  // /root/.docker/config.json) live under it; removed when the pod ends.
  std::string root;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_unit& x) {
  return f(caf::meta::type_name("kaito.work_unit.v2"), x.uid, x.pod, x.args, x.root);
}

struct work_progress {
  std::string uid;
  uint64_t step = 0;
  uint32_t permille = 0;
  std::string text;
  wire_f32 gflops;     // measured rate of the current phase
  bool ready = false;  // serving (serve-self-test after its self-test): the Pod turns Ready
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_progress& x) {
  return f(caf::meta::type_name("kaito.work_progress.v1"), x.uid, x.step, x.permille, x.text,
           x.gflops, x.ready);
}

struct work_done {
  std::string uid;
  int32_t exit_code = 0;  // 0 = success
  std::string reason;     // Completed | Error | InvalidArgs ...
  std::string message;
  tensor_bytes result;  // e.g. the self-test's per-phase figures
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_done& x) {
  return f(caf::meta::type_name("kaito.work_done.v1"), x.uid, x.exit_code, x.reason, x.message,
           x.result);
}

struct cancel_work {
  std::string uid;
  // How long the unit may take to end well (an inference server drains its answers in
  // progress); the machine kills the worker when it has not ended by then. 0: end at once.
  int64_t grace_ms = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_work& x) {
  return f(caf::meta::type_name("kaito.cancel_work.v2"), x.uid, x.grace_ms);
}

}  // namespace kaito::msg
