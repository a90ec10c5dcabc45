// gpu_worker: the actor inside a `kaito worker` child process (one per GPU or CPU slot).
//
//   start --worker_hello--> machine --welcome--> idle <--work_unit-- machine
//   idle  --(thread runs the unit; work_progress every ~0.5 s)--> work_done --> idle
//   cancel_work: the running unit stops at its next check and reports Cancelled (143).
//   machine lost (down_msg) or hello refused: the actor quits and the process exits.
//
// Units run on their own std::thread, never on CAF's scheduler; that thread sends progress and
// the final work_done straight to the machine, as the worker actor (send_as: the machine accepts
// a pod's progress and result only from the worker it gave the pod to), and is joined when the
// next unit starts or when the actor terminates.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "actors/tune_unit.h"
#include "engine/chat_service.h"
#include "protocol/messages/interfaces.h"

namespace caf {
class actor_system;
}

namespace kaito::actors {

// Runs one unit to completion on the calling thread (plain function, no CAF): bad args ->
// exit_code 2 / InvalidArgs naming the flag; self-test ok -> 0 / Completed; a failed check ->
// 1 / Error; cancelled -> 143 / Cancelled. serve-self-test reports ready after its self-test and
// then waits for cancel (exit 0, Completed). result = f32 [gflops, memory_bytes_checked,
// errors (gemm + memory), iterations].
// serve (actors/serve_unit.h) -> ready once listening on port + slot, then waits for cancel
// (exit 0, Completed), as serve-self-test; a model that does not load -> 1 / Error.
// tune (actors/tune_unit.h) -> 0 / Completed with the pushed image in the message; a failure
// -> 1 / Error naming the flag, file or URL; result = f32 [steps, examples, first loss, last
// loss].
// The engines a worker runs its units on; empty: the CPU engine's (a CUDA slot of a kaito built
// with nvcc gets the GPU's: cli/cmd_worker.cpp).
struct worker_engines {
  tune_runner tuner;                // --task=tune
  engine::decoder_factory decoder;  // --task=serve (engine/chat_service.h)
};
// grace_ms (read once cancel is set): how long the unit may take to end well (a serve unit
// drains its answers in progress); null: end at once.
msg::work_done execute_work_unit(const msg::work_unit& unit, const std::atomic<bool>& cancel,
                                 const std::function<void(msg::work_progress)>& progress,
                                 const worker_engines& engines = {}, uint32_t slot = 0,
                                 const std::atomic<int64_t>* grace_ms = nullptr);

// A serve unit whose engine failed while serving reports reason kEngineFailed, and the worker
// process then exits with kEngineFailedExit (EX_SOFTWARE) so its pod restarts on a fresh one.
inline constexpr const char* kEngineFailed = "EngineFailed";
inline constexpr int kEngineFailedExit = 70;

struct worker_process_options {
  std::string machine_host = "127.0.0.1";
  uint16_t machine_port = 0;
  std::string token;  // the per-child secret from the machine
  uint32_t slot = 0;
  std::string device = "cpu";
  worker_engines engines;
};

// The body of `kaito worker`: connects to the machine (retrying for up to 10 s), says hello and
// serves units until the machine goes away. Returns the process exit code.
int run_worker_process(const worker_process_options& o);

}  // namespace kaito::actors
