// node_registry: the supervisor's book of admitted machines (plain C++, no CAF): who is admitted,
// their resources, the last heartbeat, which pods they say they run, and who went silent.
//
//   node_registry reg(std::chrono::seconds(5));
//   auto inc = reg.admit(hello, now);          // already_exists: the name is held by a live
//   machine reg.heartbeat(hb, now);                    // ok | revived | unknown for (auto& name :
//   reg.expire(now)) ...     // silent for node_timeout: now not ready (once each)
//   reg.mark_lost(name, inc);                  // its actor handle went down
//
// Time is passed in (steady clock points), so tests drive it with a fake clock. A machine that is
// not ready keeps its record (the `machines` table shows it NotReady) until it is admitted again.
// Each admission gets a new incarnation number, so a down notice for an older handle of the same
// name cannot take the new one down.
//
// Thread-safety: none (one owner: the supervisor actor). Copyable.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "protocol/messages/machine.h"

namespace kaito::actors {

using steady_time = std::chrono::steady_clock::time_point;

struct machine_record {
  std::string name;
  std::string instance_type;
  msg::machine_resources resources;
  std::vector<msg::label> labels;
  std::string address;
  std::string kaito_version;
  bool ready = false;
  uint64_t incarnation = 0;
  steady_time admitted_at{};
  steady_time last_heartbeat{};
  uint64_t last_seq = 0;
  uint32_t busy_slots = 0;
  std::set<std::string> running_pod_uids;  // as last reported by the machine
  std::string lost_reason;                 // why it is not ready ("" while ready)
};

enum class heartbeat_outcome { ok, revived, unknown };

class node_registry {
 public:
  explicit node_registry(std::chrono::milliseconds node_timeout) : timeout_(node_timeout) {}

  // Admits (or re-admits) a machine; returns its new incarnation. already_exists when the name is
  // held by a ready machine whose last heartbeat is younger than the timeout; invalid_argument
  // for an empty name.
  result<uint64_t> admit(const msg::machine_hello& h, steady_time now);
  // Records a heartbeat. revived: the machine was not ready and is ready again (same
  // incarnation); unknown: never admitted (the machine must say hello).
  heartbeat_outcome heartbeat(const msg::machine_heartbeat& hb, steady_time now);
  // Ready machines silent for longer than the timeout become not ready; their names are returned
  // (each loss once).
  std::vector<std::string> expire(steady_time now);
  // The handle of incarnation `inc` went down: true when this turned a ready machine not ready.
  bool mark_lost(const std::string& name, uint64_t inc, const std::string& reason);

  const machine_record* find(const std::string& name) const;
  bool is_ready(const std::string& name) const;
  std::vector<const machine_record*> all() const;  // by name
  std::vector<std::string> ready_names() const;
  std::chrono::milliseconds node_timeout() const { return timeout_; }

 private:
  std::chrono::milliseconds timeout_;
  uint64_t next_incarnation_ = 1;
  std::map<std::string, machine_record> machines_;
};

}  // namespace kaito::actors
