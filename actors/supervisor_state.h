// supervisor_state: the supervisor actor's state and the helpers its behaviour files share
// (supervisor_actor.cpp: machines, pods, reconcilers; supervisor_shell.cpp: the shell requests).
// Internal to actors/.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/node_registry.h"
#include "actors/reconcile_queue.h"
#include "actors/restart_backoff.h"
#include "actors/shell_commands.h"
#include "actors/supervisor_pods.h"
#include "actors/supervisor_runtime.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "protocol/messages/interfaces.h"

namespace kaito::actors::detail {

using namespace std::chrono_literals;

struct machine_link {
  msg::machine_actor handle;
  uint64_t incarnation = 0;
  steady_time last_node_write{};
};

struct supervisor_state {
  supervisor_runtime* rt = nullptr;
  bool leader = false;
  node_registry registry{5000ms};
  std::map<std::string, machine_link> links;          // machine name ->
  std::map<std::string, dispatched_pod> dispatched;   // pod uid ->
  std::map<std::string, std::string> mount_failures;  // pod "ns/name" -> FailedMount reported
  // Pod reports are applied one at a time per pod, in arrival order (the pool has several
  // threads): the newest report that arrived meanwhile waits, older waiting ones are dropped.
  std::set<std::string> reports_in_flight;                 // pod uid
  std::map<std::string, msg::pod_report> reports_waiting;  // pod uid ->
  std::map<std::string, caf::actor> reconcilers;           // "kind ns/name" ->
  std::map<std::string, int> absent_ticks;
  steady_time leading_since{};
  std::map<std::string, steady_time> node_repairs;  // node -> last NotReady/eviction sweep
  restart_backoff restarts;  // reconcile actors that died: when to respawn them
  std::map<std::string, reconcile_counters> stats;
  std::vector<msg::worker_list> last_workers;
  pod_log_buffer logs;
  std::map<std::string, int32_t> log_restarts;  // pod "ns/name" -> restarts its log file is at
  std::map<uint64_t, caf::response_promise> pending;
  uint64_t next_id = 1;
  static inline const char* name = "kaito.supervisor";
};

using self_ptr = caf::stateful_actor<supervisor_state>*;

std::shared_ptr<spdlog::logger> slog();
inline steady_time now() {
  return std::chrono::steady_clock::now();
}
msg::shell_reply text_reply(int code, std::string text);
// Runs `fn` (blocking) on the pool; its reply answers the promise, when one is given.
void run_blocking(self_ptr self, std::function<msg::shell_reply()> fn,
                  std::optional<caf::response_promise> rp = std::nullopt);
// The snapshot the shell's read commands work on.
shell_snapshot snapshot(self_ptr self);
caf::result<msg::shell_reply> on_shell(self_ptr self, const msg::shell_request& req);

}  // namespace kaito::actors::detail
