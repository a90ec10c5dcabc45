// machine_state; see machine_state.h.
#include "actors/machine_state.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "actors/machine_resources.h"
#include "actors/pod_volumes.h"
#include "actors/token.h"
#include "actors/worker_process.h"
#include "base/log.h"

namespace kaito::actors {

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

machine_state::~machine_state() {
  probes_cancel->store(true);
  for (auto& s : slots)
    if (s.pid > 0) stop_child_process(s.pid, std::chrono::milliseconds(300));
}

void machine_state::init(machine_options o, std::string bin, msg::machine_resources res) {
  opt = std::move(o);
  binary = std::move(bin);
  resources = std::move(res);
  node_name = opt.name.empty() ? default_machine_name() : opt.name;
  address = opt.address;
  if (address.empty())
    address =
        opt.supervisor ? "127.0.0.1" : route_address_to(opt.supervisor_host, opt.supervisor_port);
  slots.resize(resources.slots);
  log = logger("machine");  // opt.pods_dir: set and claimed by spawn_machine
}

void machine_state::erase_pod(std::map<std::string, pod_entry>::iterator it) {
  if (!it->second.root.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(it->second.root, ec);
    if (ec)
      log_warn(log, "cannot remove the pod directory",
               {{"dir", it->second.root}, {"error", ec.message()}});
  }
  pods.erase(it);
}

std::string machine_state::device_of(uint32_t slot) const {
  if (resources.gpus == 0) return "cpu";
  std::string d = "cuda:" + std::to_string(slot);
  if (slot < resources.gpu_names.size()) d += " " + resources.gpu_names[slot];
  return d;
}

std::string machine_state::supervisor_address() const {
  return opt.supervisor_host + ":" + std::to_string(opt.supervisor_port);
}

std::chrono::milliseconds machine_state::next_backoff(uint32_t slot) {
  auto& s = slots[slot];
  if (std::chrono::steady_clock::now() - s.started >= std::chrono::seconds(30))
    s.backoff = std::chrono::milliseconds(500);
  auto d = s.backoff;
  s.backoff = std::min(s.backoff * 2, std::chrono::milliseconds(10000));
  return d;
}

msg::machine_hello machine_state::make_hello() const {
  msg::machine_hello h;
  h.token = opt.token;
  h.name = node_name;
  h.instance_type = opt.instance_type;
  h.resources = resources;
  h.labels = opt.labels;
  for (const auto& [uid, p] : pods)
    if (!p.stopping) h.running_pod_uids.push_back(uid);
  h.address = address;
  h.kaito_version = opt.kaito_version;
  return h;
}

msg::machine_heartbeat machine_state::make_heartbeat() {
  msg::machine_heartbeat hb;
  hb.name = node_name;
  hb.seq = ++seq;
  for (const auto& s : slots) hb.busy_slots += s.pod_uid.empty() ? 0 : 1;
  for (const auto& [uid, p] : pods)
    if (!p.stopping) hb.running_pod_uids.push_back(uid);
  return hb;
}

std::vector<msg::pod_report> machine_state::take_outbox() {
  std::vector<msg::pod_report> out;
  out.swap(outbox);
  return out;
}

void machine_state::push_report(msg::pod_report r) {
  // While the supervisor is away only the latest report per pod is worth keeping.
  if (!connected)
    outbox.erase(std::remove_if(outbox.begin(), outbox.end(),
                                [&](const msg::pod_report& x) { return x.uid == r.uid; }),
                 outbox.end());
  if (outbox.size() < 100000) outbox.push_back(std::move(r));
}

msg::pod_report machine_state::make_report(const pod_entry& p, const std::string& phase) const {
  msg::pod_report r;
  r.ns = p.spec.ns;
  r.name = p.spec.name;
  r.uid = p.spec.uid;
  r.node = node_name;
  r.phase = phase;
  r.ready = p.ready && p.probes.ready();
  r.restart_count = p.restart_count;
  r.started_at_ms = p.container_started_ms;
  r.last_exit = p.last_exit;
  if (p.backing_off) {
    r.container_state = "waiting";
    r.reason = "CrashLoopBackOff";
    r.message = p.backoff_message;
  }
  if (p.slot >= 0) {
    r.progress = slots[p.slot].progress;
    r.progress_permille = slots[p.slot].progress_permille;
    r.host_port_offset = p.slot;
  }
  return r;
}

void machine_state::finish(const std::string& uid, msg::pod_report r) {
  r.finished_at_ms = unix_now_ms();
  finished[uid] = r;
  finished_order.push_back(uid);
  if (finished_order.size() > 1024) {
    finished.erase(finished_order.front());
    finished_order.pop_front();
  }
  if (auto it = pods.find(uid); it != pods.end()) erase_pod(it);
  push_report(std::move(r));
}

void machine_state::add_pod(msg::run_pod r) {
  if (pods.count(r.uid)) {
    log_debug(log, "run_pod for a pod already here: ignored", {{"uid", r.uid}});
    return;
  }
  if (auto it = finished.find(r.uid); it != finished.end()) {
    push_report(it->second);  // it ran here already: tell again how it ended
    return;
  }
  pod_entry p;
  p.spec = std::move(r);
  p.probes = pod_probes(p.spec.startup_probe, p.spec.liveness_probe, p.spec.readiness_probe);
  std::string uid = p.spec.uid;
  log_info(log, "pod accepted", {{"pod", p.spec.ns + "/" + p.spec.name}, {"uid", uid}});
  p.root = opt.pods_dir + "/" + uid;
  std::error_code ec;
  std::filesystem::create_directories(p.root, ec);
  // Secrets land here: only this user may enter (the kubelet's pod directories are root's).
  for (const std::string& d : {opt.pods_dir, p.root})
    if (!ec) std::filesystem::permissions(d, std::filesystem::perms::owner_all, ec);
  status written = ec ? io_error("cannot create " + p.root + ": " + ec.message(), "pods_dir")
                      : write_pod_files(p.root, p.spec.files);
  p.spec.files.clear();  // on disk now; not kept in memory
  auto it = pods.emplace(uid, std::move(p)).first;
  if (!written.ok()) {
    auto rep = make_report(it->second, "Failed");
    rep.exit_code = 1;
    rep.reason = "CreateContainerConfigError";
    rep.message = written.to_string();
    finish(uid, std::move(rep));
    return;
  }
  queue.push_back(uid);
}

std::vector<assignment> machine_state::dispatch() {
  std::vector<assignment> out;
  while (!queue.empty()) {
    auto free = std::find_if(slots.begin(), slots.end(), [](const worker_slot& s) {
      return s.state == "idle" && s.handle && s.pod_uid.empty();
    });
    if (free == slots.end()) break;
    std::string uid = queue.front();
    queue.pop_front();
    auto it = pods.find(uid);
    if (it == pods.end() || it->second.slot >= 0 || it->second.stopping) continue;
    pod_entry& p = it->second;
    auto i = static_cast<uint32_t>(free - slots.begin());
    p.slot = static_cast<int>(i);
    if (p.container_started_ms != 0) ++p.restart_count;  // the kubelet counts it at the start
    p.container_started_ms = unix_now_ms();
    p.backing_off = false;
    p.kill_message.clear();  // a kill of an earlier run that ended otherwise
    free->pod_uid = uid;
    free->state = "running";
    free->progress.clear();
    free->progress_permille = 0;
    out.push_back({i, uid, msg::work_unit{uid, p.spec.ns + "/" + p.spec.name, p.spec.args, p.root},
                   p.probes.start(std::chrono::steady_clock::now())});
  }
  return out;
}

void machine_state::report(const std::string& uid, const std::string& phase) {
  auto it = pods.find(uid);
  if (it != pods.end()) push_report(make_report(it->second, phase));
}

std::vector<probe_timer> machine_state::on_progress(const msg::work_progress& m) {
  auto it = pods.find(m.uid);
  if (it == pods.end() || it->second.slot < 0 || it->second.stopping) return {};
  auto& s = slots[it->second.slot];
  s.progress = m.text;
  s.progress_permille = m.permille;
  std::vector<probe_timer> timers;
  if (m.ready && !it->second.ready)
    timers = it->second.probes.on_listening(std::chrono::steady_clock::now());
  it->second.ready = m.ready;
  push_report(make_report(it->second, "Running"));
  return timers;
}

int machine_state::stop(const std::string& uid) {
  if (finished.erase(uid))
    finished_order.erase(std::find(finished_order.begin(), finished_order.end(), uid));
  auto it = pods.find(uid);
  if (it == pods.end() || it->second.stopping) return -1;
  if (it->second.slot < 0) {
    queue.erase(std::remove(queue.begin(), queue.end(), uid), queue.end());
    erase_pod(it);
    return -1;
  }
  it->second.stopping = true;
  log_info(log, "stopping pod", {{"uid", uid}});
  return it->second.slot;
}

std::chrono::milliseconds machine_state::stop_grace_of(const std::string& uid) const {
  auto it = pods.find(uid);
  if (it == pods.end() || it->second.spec.termination_grace_ms < 0) return opt.stop_grace;
  return std::chrono::milliseconds(it->second.spec.termination_grace_ms);
}

std::string machine_state::check_worker_hello(const msg::worker_hello& h) const {
  if (h.version != msg::wire_version)
    return "wire version " + std::to_string(h.version) + ", want " +
           std::to_string(msg::wire_version);
  if (h.slot >= slots.size()) return "no slot " + std::to_string(h.slot);
  const auto& s = slots[h.slot];
  if (!token_equal(h.token, s.token)) return "wrong worker token";
  if (s.pid != h.pid) return "pid " + std::to_string(h.pid) + " is not this slot's process";
  if (s.handle) return "slot already has a worker";
  return {};
}

void machine_state::worker_ready(uint32_t slot, msg::worker_actor handle, int32_t pid) {
  auto& s = slots[slot];
  s.handle = std::move(handle);
  s.state = "idle";
  log_info(log, "worker ready", {{"slot", std::to_string(slot)}, {"pid", std::to_string(pid)}});
}

}  // namespace kaito::actors
