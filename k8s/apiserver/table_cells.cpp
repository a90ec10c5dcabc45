// Built-in Table cells; see table_cells.h.
#include "k8s/apiserver/table_cells.h"

#include <optional>
#include <string>
#include <vector>

#include "k8s/apiserver/tables.h"

namespace kaito::k8s::apiserver {

const json& at(const json& j, std::initializer_list<const char*> path) {
  static const json null_json;
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return null_json;
    auto it = cur->find(p);
    if (it == cur->end()) return null_json;
    cur = &*it;
  }
  return *cur;
}

std::string s_or(const json& v, const std::string& dflt) {
  return v.is_string() ? v.get<std::string>() : dflt;
}
int64_t i_or(const json& v, int64_t dflt) {
  return v.is_number_integer() ? v.get<int64_t>() : dflt;
}

pod_cells pod_row_cells(const json& o, std::time_t now) {
  pod_cells out;
  const json& specs = at(o, {"spec", "containers"});
  size_t total = specs.is_array() ? specs.size() : 0, ready = 0;
  std::string phase = s_or(at(o, {"status", "phase"}), "");
  std::string reason = s_or(at(o, {"status", "reason"}), phase);
  const json& conds = at(o, {"status", "conditions"});
  bool pod_ready_true = false;
  if (conds.is_array())
    for (const auto& c : conds) {
      std::string type = s_or(at(c, {"type"}), "");
      if (type == "PodScheduled" && s_or(at(c, {"reason"}), "") == "SchedulingGated")
        reason = "SchedulingGated";
      if (type == "Ready" && s_or(at(c, {"status"}), "") == "True") pod_ready_true = true;
    }
  int64_t restarts = 0;
  std::optional<std::time_t> last_restart;
  bool has_running = false;
  const json& st = at(o, {"status", "containerStatuses"});
  if (st.is_array())
    for (auto it = st.rbegin(); it != st.rend(); ++it) {  // the first container's state wins
      const json& c = *it;
      restarts += i_or(at(c, {"restartCount"}), 0);
      if (auto t = parse_rfc3339(s_or(at(c, {"lastState", "terminated", "finishedAt"}), "")))
        if (!last_restart || *last_restart < *t) last_restart = *t;
      const json& waiting = at(c, {"state", "waiting"});
      const json& terminated = at(c, {"state", "terminated"});
      if (!s_or(at(waiting, {"reason"}), "").empty()) {
        reason = s_or(at(waiting, {"reason"}), "");
      } else if (terminated.is_object()) {
        std::string r = s_or(at(terminated, {"reason"}), "");
        if (r.empty() && i_or(at(terminated, {"signal"}), 0) != 0)
          r = "Signal:" + std::to_string(i_or(at(terminated, {"signal"}), 0));
        else if (r.empty())
          r = "ExitCode:" + std::to_string(i_or(at(terminated, {"exitCode"}), 0));
        reason = r;
      } else if (at(c, {"ready"}).is_boolean() && at(c, {"ready"}).get<bool>() &&
                 at(c, {"state", "running"}).is_object()) {
        has_running = true;
        ++ready;
      }
    }
  if (reason == "Completed" && has_running) reason = pod_ready_true ? "Running" : "NotReady";
  if (at(o, {"metadata", "deletionTimestamp"}).is_string()) {
    if (s_or(at(o, {"status", "reason"}), "") == "NodeLost")
      reason = "Unknown";
    else if (phase != "Succeeded" && phase != "Failed")
      reason = "Terminating";
  }
  if (reason.empty()) reason = "Pending";
  out.ready = std::to_string(ready) + "/" + std::to_string(total);
  out.status = reason;
  out.restarts = std::to_string(restarts);
  if (restarts != 0 && last_restart)
    out.restarts += " (" + human_duration(static_cast<int64_t>(now - *last_restart)) + " ago)";
  return out;
}

std::string service_ports(const json& o) {
  std::string out;
  const json& ports = at(o, {"spec", "ports"});
  if (ports.is_array())
    for (const auto& p : ports) {
      if (!out.empty()) out += ",";
      out += std::to_string(i_or(at(p, {"port"}), 0));
      if (at(p, {"nodePort"}).is_number_integer())
        out += ":" + std::to_string(i_or(at(p, {"nodePort"}), 0));
      out += "/" + s_or(at(p, {"protocol"}), "TCP");
    }
  return out.empty() ? "<none>" : out;
}

// kubectl's formatEndpoints (printers.go): ip:port for each ready address of each port, subset by
// subset (only the IPs for a subset without ports), at most 3 then " + N more..."; "<none>" when
// there are no subsets.
std::string endpoints_text(const json& o) {
  const json& subsets = at(o, {"subsets"});
  if (!subsets.is_array() || subsets.empty()) return "<none>";
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  size_t count = 0;
  bool more = false;
  auto add = [&](const json& addrs, const json* port) {
    if (!addrs.is_array()) return;
    count += addrs.size();
    for (const auto& a : addrs) {
      if (list.size() == kMax) {
        more = true;
        break;
      }
      std::string ip = s_or(at(a, {"ip"}), "");
      if (!port)
        list.push_back(ip);
      else if (ip.find(':') != std::string::npos)
        list.push_back("[" + ip + "]:" + std::to_string(i_or(at(*port, {"port"}), 0)));
      else
        list.push_back(ip + ":" + std::to_string(i_or(at(*port, {"port"}), 0)));
    }
  };
  for (const auto& ss : subsets) {
    const json& ports = at(ss, {"ports"});
    if (!ports.is_array() || ports.empty()) {
      add(at(ss, {"addresses"}), nullptr);
      continue;
    }
    for (const auto& p : ports) add(at(ss, {"addresses"}), &p);
  }
  std::string out;
  for (const auto& e : list) out += (out.empty() ? "" : ",") + e;
  if (more) out += " + " + std::to_string(count - kMax) + " more...";
  return out;
}

std::string job_status(const json& o) {
  const json& conds = at(o, {"status", "conditions"});
  if (conds.is_array())
    for (const auto& c : conds) {
      if (s_or(at(c, {"status"}), "") != "True") continue;
      std::string t = s_or(at(c, {"type"}), "");
      if (t == "Complete") return "Complete";
      if (t == "Failed") return "Failed";
      if (t == "Suspended") return "Suspended";
    }
  return "Running";
}

std::string job_duration(const json& o, std::time_t now) {
  auto start = parse_rfc3339(s_or(at(o, {"status", "startTime"}), ""));
  if (!start) return "";
  auto end = parse_rfc3339(s_or(at(o, {"status", "completionTime"}), ""));
  return human_duration(static_cast<int64_t>((end ? *end : now) - *start));
}

std::string map_text(const json& m) {
  if (!m.is_object() || m.empty()) return "<none>";
  std::string out;
  for (auto it = m.begin(); it != m.end(); ++it)
    out += (out.empty() ? "" : ",") + it.key() + "=" + s_or(*it, it->dump());
  return out;
}

// printers.go formatDiscoveryPorts / formatDiscoveryEndpoints.
std::string slice_ports_text(const json& slice) {
  const json& ports = at(slice, {"ports"});
  if (!ports.is_array() || ports.empty()) return "<unset>";
  std::string out;
  for (const auto& p : ports) {
    const json& n = at(p, {"port"});
    out += (out.empty() ? "" : ",") +
           (n.is_number_integer() ? std::to_string(n.get<int64_t>()) : std::string("<unset>"));
  }
  return out;
}

std::string slice_endpoints_text(const json& slice) {
  const json& eps = at(slice, {"endpoints"});
  if (!eps.is_array() || eps.empty()) return "<unset>";
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  size_t count = 0;
  for (const auto& e : eps) {
    const json& addrs = at(e, {"addresses"});
    if (!addrs.is_array()) continue;
    for (const auto& a : addrs) {
      ++count;
      if (list.size() < kMax) list.push_back(s_or(a, ""));
    }
  }
  std::string out;
  for (const auto& e : list) out += (out.empty() ? "" : ",") + e;
  if (count > kMax) out += " + " + std::to_string(count - kMax) + " more...";
  return out;
}

}  // namespace kaito::k8s::apiserver
