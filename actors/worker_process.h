// Worker child processes: start (fork/exec), observe the exit, stop.
//
// A child is started with PR_SET_PDEATHSIG(SIGKILL), so it dies with the thread that forked it
// (call start_child_process from a thread that lives as long as the machine: a CAF scheduler
// thread or main), in its own process group (a terminal's Ctrl-C reaches the machine, which then
// stops its workers), with every signal unblocked (kaito join blocks SIGINT/SIGTERM for sigwait,
// and exec would keep that mask) and without the parent's descriptors beyond stdin/out/err.
// start_child_process returns once the child has reached exec (its death signal is armed).
// Thread-compatible plain functions over pids.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace kaito::actors {

struct child_spec {
  std::string binary;             // absolute path of the executable
  std::vector<std::string> args;  // argv[1..]
  std::vector<std::string> env;   // "KEY=value" entries added to (or replacing in) environ
};

// Forks and execs; the pid, or an io_error naming the binary (missing, not executable).
result<pid_t> start_child_process(const child_spec& spec);

// The wait status when pid has exited (and reaps it), nullopt while it runs. A pid that is not
// our child (already reaped) reads as exited with status 0.
std::optional<int> poll_child_exit(pid_t pid);

// "signal 9" / "exit code 3".
std::string describe_wait_status(int wait_status);
// Kubernetes' container exit code: the code, or 128 + signal.
int exit_code_of(int wait_status);

// SIGTERM, then SIGKILL after grace, then reaps. Blocks up to about grace + 100 ms.
void stop_child_process(pid_t pid, std::chrono::milliseconds grace);

// The path of the running executable (/proc/self/exe), "" when unreadable.
std::string self_executable();

}  // namespace kaito::actors
