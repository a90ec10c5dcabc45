// machine_state's answers to the shell's commands (see machine_state.h): list_workers (the
// slots, their processes and pods) and kill_worker (SIGKILL by worker id or slot).
#include <signal.h>

#include <string>

#include "actors/machine_state.h"
#include "base/log.h"

namespace kaito::actors {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

msg::worker_list machine_state::workers() const {
  msg::worker_list l;
  l.machine = node_name;
  for (uint32_t i = 0; i < slots.size(); ++i) {
    const auto& s = slots[i];
    msg::worker_info w;
    w.id = node_name + "/" + std::to_string(i);
    w.slot = i;
    w.pid = s.pid;
    w.state = s.state;
    w.pod_uid = s.pod_uid;
    if (auto it = pods.find(s.pod_uid); !s.pod_uid.empty() && it != pods.end())
      w.pod = it->second.spec.ns + "/" + it->second.spec.name;
    w.restarts = s.restarts;
    w.last_exit = s.last_exit;
    w.progress_permille = s.progress_permille;
    w.progress = s.progress;
    l.workers.push_back(std::move(w));
  }
  return l;
}

msg::command_reply machine_state::kill(const std::string& worker_id) {
  std::string slot_text = worker_id;
  if (auto slash = worker_id.rfind('/'); slash != std::string::npos) {
    if (worker_id.substr(0, slash) != node_name)
      return {false, "worker " + worker_id + " is not on machine " + node_name};
    slot_text = worker_id.substr(slash + 1);
  }
  if (!all_digits(slot_text) || std::stoul(slot_text) >= slots.size())
    return {false, "no worker " + worker_id + " on machine " + node_name};
  auto& s = slots[std::stoul(slot_text)];
  if (s.pid <= 0) return {false, "worker " + worker_id + " is not running (" + s.state + ")"};
  ::kill(s.pid, SIGKILL);
  log_warn(log, "worker killed on request",
           {{"worker", worker_id}, {"pid", std::to_string(s.pid)}});
  return {true, "killed worker " + node_name + "/" + slot_text + " (pid " + std::to_string(s.pid) +
                    "); it restarts"};
}

}  // namespace kaito::actors
