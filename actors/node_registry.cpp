// node_registry; see node_registry.h.
#include "actors/node_registry.h"

namespace kaito::actors {

result<uint64_t> node_registry::admit(const msg::machine_hello& h, steady_time now) {
  if (h.name.empty()) return invalid_argument("machine name is empty", "name");
  auto it = machines_.find(h.name);
  if (it != machines_.end() && it->second.ready && now - it->second.last_heartbeat <= timeout_)
    return status(status_code::already_exists,
                  "machine name \"" + h.name + "\" is held by a live machine", "name");
  machine_record r;
  r.name = h.name;
  r.instance_type = h.instance_type;
  r.resources = h.resources;
  r.labels = h.labels;
  r.address = h.address;
  r.kaito_version = h.kaito_version;
  r.ready = true;
  r.incarnation = next_incarnation_++;
  r.admitted_at = now;
  r.last_heartbeat = now;
  r.running_pod_uids.insert(h.running_pod_uids.begin(), h.running_pod_uids.end());
  machines_[h.name] = std::move(r);
  return machines_[h.name].incarnation;
}

heartbeat_outcome node_registry::heartbeat(const msg::machine_heartbeat& hb, steady_time now) {
  auto it = machines_.find(hb.name);
  if (it == machines_.end()) return heartbeat_outcome::unknown;
  auto& r = it->second;
  r.last_heartbeat = now;
  r.last_seq = hb.seq;
  r.busy_slots = hb.busy_slots;
  r.running_pod_uids =
      std::set<std::string>(hb.running_pod_uids.begin(), hb.running_pod_uids.end());
  if (r.ready) return heartbeat_outcome::ok;
  r.ready = true;
  r.lost_reason.clear();
  return heartbeat_outcome::revived;
}

std::vector<std::string> node_registry::expire(steady_time now) {
  std::vector<std::string> lost;
  for (auto& [name, r] : machines_) {
    if (!r.ready || now - r.last_heartbeat <= timeout_) continue;
    r.ready = false;
    r.lost_reason =
        "no heartbeat for " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - r.last_heartbeat).count()) +
        " ms";
    lost.push_back(name);
  }
  return lost;
}

bool node_registry::mark_lost(const std::string& name, uint64_t inc, const std::string& reason) {
  auto it = machines_.find(name);
  if (it == machines_.end() || it->second.incarnation != inc || !it->second.ready) return false;
  it->second.ready = false;
  it->second.lost_reason = reason;
  return true;
}

const machine_record* node_registry::find(const std::string& name) const {
  auto it = machines_.find(name);
  return it == machines_.end() ? nullptr : &it->second;
}

bool node_registry::is_ready(const std::string& name) const {
  auto* r = find(name);
  return r != nullptr && r->ready;
}

std::vector<const machine_record*> node_registry::all() const {
  std::vector<const machine_record*> out;
  for (const auto& [name, r] : machines_) out.push_back(&r);
  return out;
}

std::vector<std::string> node_registry::ready_names() const {
  std::vector<std::string> out;
  for (const auto& [name, r] : machines_)
    if (r.ready) out.push_back(name);
  return out;
}

}  // namespace kaito::actors
