// shell_commands: the read-only `kaito shell` commands as plain functions from a snapshot of the
// supervisor's knowledge (informer caches, the machine registry, worker lists, received progress
// lines, reconcile counters) to the reply text: aligned tables like kubectl's (NAME  COLUMN ...).
// No CAF, no I/O: unit-tested with hand-built objects (tests/actors/shell_commands_test.cpp).
//
//   shell_snapshot s; s.workspaces = ...; s.machines = ...;
//   msg::shell_reply r = run_shell_read(argv, s);   // exit_code 0 ok, 1 failed, 2 usage
//
// Commands that change something (drain, restart, kill) and the data each command needs are
// classified by classify_shell_command; the supervisor runs those itself.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/reconcile_queue.h"
#include "protocol/messages/machine.h"
#include "protocol/messages/shell.h"

namespace kaito::actors {

using json = nlohmann::json;

struct machine_row {
  std::string name;
  bool ready = false;
  std::string instance_type;
  uint32_t slots = 0;
  uint32_t busy_slots = 0;
  uint32_t gpus = 0;
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  int64_t heartbeat_age_ms = 0;  // since the last heartbeat
  uint32_t running_pods = 0;
  std::string reason;  // why not ready
};

struct shell_snapshot {
  std::vector<json> workspaces, jobs, statefulsets, pods, nodes;
  std::vector<machine_row> machines;
  std::vector<msg::worker_list> workers;                // one per machine that answered
  std::vector<std::string> unanswered;                  // machines whose worker list timed out
  std::map<std::string, reconcile_counters> stats;      // "kind ns/name" -> counters
  std::map<std::string, std::deque<std::string>> logs;  // pod "ns/name" -> progress lines
};

enum class shell_command_kind {
  help,
  read,          // answered from the snapshot alone
  read_workers,  // the snapshot must include every machine's worker list (workers, top)
  drain,         // drain <machine>
  restart,       // restart <ws>
  kill,          // kill <worker-id>
  unknown,
};

shell_command_kind classify_shell_command(const std::vector<std::string>& argv);

// The read commands: help, workspaces, describe <ws>, machines, workers, top (one frame),
// logs <ws>. Anything else is a usage error (exit 2).
msg::shell_reply run_shell_read(const std::vector<std::string>& argv, const shell_snapshot& s);

// Left-aligned columns separated by three spaces, like kubectl; a trailing newline per row.
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

// The workspace `arg` names ("ns/name" or "name"; a bare name prefers namespace default);
// nullptr when none.
const json* find_workspace(const shell_snapshot& s, const std::string& arg);
// The pods of a workspace: label kaito.sh/workspace, job-name or an owner of that name, in ns.
std::vector<const json*> workspace_pods(const shell_snapshot& s, const json& ws);
// The status ("True"/"False"/"Unknown", "" when absent) of a condition of `obj`.
std::string condition_status(const json& obj, const std::string& type);

// Words that may follow `line` (the text before the cursor): commands, then names.
std::vector<std::string> shell_completions_for(const std::string& line, const shell_snapshot& s);

// Splits a command line at whitespace ('...' and "..." group words).
std::vector<std::string> split_command_line(const std::string& line);

std::string shell_help_text();

}  // namespace kaito::actors
