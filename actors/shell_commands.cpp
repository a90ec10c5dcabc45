// shell_commands; see shell_commands.h.
#include "actors/shell_commands.h"

#include <algorithm>
#include <cstdio>

namespace kaito::actors {

namespace {

// Untrusted JSON: a missing or mistyped field reads as "".
std::string str_at(const json& o, std::initializer_list<const char*> path) {
  const json* cur = &o;
  for (const char* k : path) {
    if (!cur->is_object()) return "";
    auto it = cur->find(k);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_number_integer()) return std::to_string(cur->get<int64_t>());
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  return "";
}

std::string ns_of(const json& o) {
  return str_at(o, {"metadata", "namespace"});
}
std::string name_of(const json& o) {
  return str_at(o, {"metadata", "name"});
}
std::string key_of(const json& o) {
  auto ns = ns_of(o);
  return ns.empty() ? name_of(o) : ns + "/" + name_of(o);
}

std::string or_dash(std::string s) {
  return s.empty() ? "-" : s;
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.1fGi", static_cast<double>(b) / (1ull << 30));
  else
    std::snprintf(buf, sizeof buf, "%lluMi", static_cast<unsigned long long>(b >> 20));
  return buf;
}

std::string human_age_ms(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 10000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
    return buf;
  }
  int64_t s = ms / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

std::string pod_restarts(const json& pod) {
  if (!pod.is_object() || !pod.contains("status") || !pod["status"].is_object()) return "0";
  const auto& st = pod["status"];
  auto it = st.find("containerStatuses");
  if (it == st.end() || !it->is_array() || it->empty() || !(*it)[0].is_object()) return "0";
  auto r = str_at((*it)[0], {"restartCount"});
  return r.empty() ? "0" : r;
}

// The phase, with what keeps a running pod's container from running: "Running (CrashLoopBackOff)".
std::string pod_phase_text(const json& pod) {
  std::string phase = or_dash(str_at(pod, {"status", "phase"}));
  const json* cs = nullptr;
  if (pod.is_object() && pod.contains("status") && pod["status"].is_object()) {
    auto it = pod["status"].find("containerStatuses");
    if (it != pod["status"].end() && it->is_array() && !it->empty()) cs = &(*it)[0];
  }
  if (phase != "Running" || !cs) return phase;
  std::string why = str_at(*cs, {"state", "waiting", "reason"});
  if (why.empty()) why = str_at(*cs, {"state", "terminated", "reason"});
  return why.empty() ? phase : phase + " (" + why + ")";
}

msg::shell_reply reply(int code, std::string text) {
  msg::shell_reply r;
  r.exit_code = code;
  r.text = std::move(text);
  return r;
}

std::vector<std::vector<std::string>> workspace_rows(const shell_snapshot& s) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& ws : s.workspaces) {
    auto pods = workspace_pods(s, ws);
    size_t running = 0;
    for (const auto* p : pods)
      if (str_at(*p, {"status", "phase"}) == "Running") ++running;
    rows.push_back({ns_of(ws), name_of(ws), or_dash(str_at(ws, {"resource", "instanceType"})),
                    or_dash(condition_status(ws, "ResourceReady")),
                    or_dash(condition_status(ws, "InferenceReady")),
                    or_dash(condition_status(ws, "JobStarted")),
                    or_dash(condition_status(ws, "WorkspaceSucceeded")),
                    std::to_string(running) + "/" + std::to_string(pods.size())});
  }
  return rows;
}

std::string workspaces_table(const shell_snapshot& s) {
  if (s.workspaces.empty()) return "No workspaces.\n";
  return format_table({"NAMESPACE", "NAME", "INSTANCE", "RESOURCEREADY", "INFERENCEREADY",
                       "JOBSTARTED", "WORKSPACESUCCEEDED", "PODS"},
                      workspace_rows(s));
}

std::string machines_table(const shell_snapshot& s) {
  if (s.machines.empty()) return "No machines.\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : s.machines)
    rows.push_back({m.name, m.ready ? "Ready" : "NotReady", or_dash(m.instance_type),
                    std::to_string(m.busy_slots) + "/" + std::to_string(m.slots),
                    std::to_string(m.gpus), std::to_string(m.cpu_cores),
                    human_bytes(m.memory_bytes), human_age_ms(m.heartbeat_age_ms),
                    std::to_string(m.running_pods), or_dash(m.reason)});
  return format_table({"NAME", "STATUS", "INSTANCE", "BUSY", "GPUS", "CPUS", "MEMORY", "HEARTBEAT",
                       "PODS", "REASON"},
                      rows);
}

std::string workers_table(const shell_snapshot& s) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& wl : s.workers)
    for (const auto& w : wl.workers)
      rows.push_back({w.id, w.pid > 0 ? std::to_string(w.pid) : "-", or_dash(w.state),
                      or_dash(w.pod), std::to_string(w.restarts), or_dash(w.last_exit),
                      w.progress.empty()
                          ? "-"
                          : std::to_string(w.progress_permille / 10) + "% " + w.progress});
  std::string out =
      rows.empty()
          ? "No workers.\n"
          : format_table({"ID", "PID", "STATE", "POD", "RESTARTS", "LAST-EXIT", "PROGRESS"}, rows);
  for (const auto& m : s.unanswered) out += "machine " + m + " did not answer\n";
  return out;
}

std::string reconcile_table(const shell_snapshot& s) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, c] : s.stats)
    rows.push_back({key, std::to_string(c.reconciles), std::to_string(c.errors),
                    std::to_string(c.requeues), std::to_string(c.coalesced),
                    or_dash(c.last_error)});
  if (rows.empty()) return "No reconcilers.\n";
  return format_table({"RECONCILER", "RUNS", "ERRORS", "REQUEUES", "COALESCED", "LAST-ERROR"},
                      rows);
}

std::string describe(const shell_snapshot& s, const json& ws) {
  std::string out;
  out += "Name:        " + name_of(ws) + "\n";
  out += "Namespace:   " + ns_of(ws) + "\n";
  out += "Instance:    " + or_dash(str_at(ws, {"resource", "instanceType"})) + "\n";
  out += "Generation:  " + or_dash(str_at(ws, {"metadata", "generation"})) + "\n";
  std::string mode = ws.is_object() && ws.contains("tuning") ? "tuning" : "inference";
  out += "Mode:        " + mode + "\n";
  out += "Conditions:\n";
  std::vector<std::vector<std::string>> rows;
  if (ws.is_object() && ws.contains("status") && ws["status"].is_object()) {
    auto it = ws["status"].find("conditions");
    if (it != ws["status"].end() && it->is_array())
      for (const auto& c : *it)
        rows.push_back({str_at(c, {"type"}), str_at(c, {"status"}), or_dash(str_at(c, {"reason"})),
                        or_dash(str_at(c, {"message"}))});
  }
  out += rows.empty() ? "  (none)\n" : format_table({"  TYPE", "STATUS", "REASON", "MESSAGE"}, [&] {
    for (auto& r : rows) r[0] = "  " + r[0];
    return rows;
  }());
  out += "Pods:\n";
  rows.clear();
  for (const auto* p : workspace_pods(s, ws)) {
    auto key = key_of(*p);
    auto lit = s.logs.find(key);
    rows.push_back({"  " + name_of(*p), or_dash(str_at(*p, {"spec", "nodeName"})),
                    pod_phase_text(*p), pod_restarts(*p),
                    lit == s.logs.end() || lit->second.empty() ? "-" : lit->second.back()});
  }
  out += rows.empty()
             ? "  (none)\n"
             : format_table({"  NAME", "NODE", "PHASE", "RESTARTS", "LAST-PROGRESS"}, rows);
  for (const auto& [key, c] : s.stats)
    if (key == "workspace " + key_of(ws))
      out += "Reconciles:  " + std::to_string(c.reconciles) + " (" + std::to_string(c.errors) +
             " errors" + (c.last_error.empty() ? "" : ", last: " + c.last_error) + ")\n";
  return out;
}

std::string logs(const shell_snapshot& s, const json& ws) {
  std::string out;
  for (const auto* p : workspace_pods(s, ws)) {
    auto it = s.logs.find(key_of(*p));
    if (it == s.logs.end()) continue;
    for (const auto& line : it->second) out += "[" + name_of(*p) + "] " + line + "\n";
  }
  return out.empty() ? "No progress lines received for " + key_of(ws) + ".\n" : out;
}

}  // namespace

std::string shell_help_text() {
  return "Commands:\n"
         "  workspaces           list Workspaces with their conditions\n"
         "  describe <ws>        one Workspace: conditions, pods, last progress\n"
         "  machines             admitted machines (Nodes): status, slots, heartbeat\n"
         "  workers              worker processes on every machine\n"
         "  top                  machines, workers and reconcilers (live in the REPL)\n"
         "  logs <ws>            progress lines the supervisor received for its pods\n"
         "  drain <machine>      cordon the Node and evict its pods\n"
         "  restart <ws>         delete the Workspace's Job/StatefulSet pods so they are "
         "recreated\n"
         "  kill <worker-id>     SIGKILL a worker process (its machine restarts it)\n"
         "  help                 this text\n";
}

std::string condition_status(const json& obj, const std::string& type) {
  if (!obj.is_object() || !obj.contains("status") || !obj["status"].is_object()) return "";
  auto it = obj["status"].find("conditions");
  if (it == obj["status"].end() || !it->is_array()) return "";
  for (const auto& c : *it)
    if (str_at(c, {"type"}) == type) return str_at(c, {"status"});
  return "";
}

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      out += cell;
      if (i + 1 < width.size()) out += std::string(width[i] - cell.size() + 3, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r);
  return out;
}

const json* find_workspace(const shell_snapshot& s, const std::string& arg) {
  auto slash = arg.find('/');
  std::string ns = slash == std::string::npos ? "" : arg.substr(0, slash);
  std::string name = slash == std::string::npos ? arg : arg.substr(slash + 1);
  const json* found = nullptr;
  for (const auto& ws : s.workspaces) {
    if (name_of(ws) != name) continue;
    if (!ns.empty() && ns_of(ws) != ns) continue;
    if (ns.empty() && ns_of(ws) == "default") return &ws;
    if (found == nullptr) found = &ws;
  }
  return found;
}

std::vector<const json*> workspace_pods(const shell_snapshot& s, const json& ws) {
  std::vector<const json*> out;
  auto ns = ns_of(ws), name = name_of(ws);
  for (const auto& p : s.pods) {
    if (ns_of(p) != ns) continue;
    bool mine = str_at(p, {"metadata", "labels", "kaito.sh/workspace"}) == name ||
                str_at(p, {"metadata", "labels", "job-name"}) == name;
    if (!mine && p.is_object() && p.contains("metadata") && p["metadata"].is_object()) {
      auto it = p["metadata"].find("ownerReferences");
      if (it != p["metadata"].end() && it->is_array())
        for (const auto& o : *it)
          if (str_at(o, {"name"}) == name) mine = true;
    }
    if (mine) out.push_back(&p);
  }
  return out;
}

shell_command_kind classify_shell_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return shell_command_kind::help;
  const auto& c = argv[0];
  if (c == "help" || c == "?") return shell_command_kind::help;
  if (c == "workspaces" || c == "ws" || c == "machines" || c == "describe" || c == "logs")
    return shell_command_kind::read;
  if (c == "workers" || c == "top") return shell_command_kind::read_workers;
  if (c == "drain") return shell_command_kind::drain;
  if (c == "restart") return shell_command_kind::restart;
  if (c == "kill") return shell_command_kind::kill;
  return shell_command_kind::unknown;
}

msg::shell_reply run_shell_read(const std::vector<std::string>& argv, const shell_snapshot& s) {
  if (argv.empty() || argv[0] == "help" || argv[0] == "?") return reply(0, shell_help_text());
  const auto& c = argv[0];
  if (c == "workspaces" || c == "ws") return reply(0, workspaces_table(s));
  if (c == "machines") return reply(0, machines_table(s));
  if (c == "workers") return reply(s.unanswered.empty() ? 0 : 1, workers_table(s));
  if (c == "top")
    return reply(0, "MACHINES\n" + machines_table(s) + "\nWORKERS\n" + workers_table(s) +
                        "\nRECONCILERS\n" + reconcile_table(s));
  if (c == "describe" || c == "logs") {
    if (argv.size() != 2) return reply(2, "usage: " + c + " <workspace>\n");
    const json* ws = find_workspace(s, argv[1]);
    if (ws == nullptr) return reply(1, "workspace \"" + argv[1] + "\" not found\n");
    return reply(0, c == "describe" ? describe(s, *ws) : logs(s, *ws));
  }
  return reply(2, "unknown command \"" + c + "\"; try help\n");
}

std::vector<std::string> shell_completions_for(const std::string& line, const shell_snapshot& s) {
  static const std::vector<std::string> commands = {"describe", "drain",     "help",    "kill",
                                                    "logs",     "machines",  "restart", "top",
                                                    "workers",  "workspaces"};
  auto words = split_command_line(line);
  bool fresh_word = line.empty() || line.back() == ' ' || line.back() == '\t';
  std::string prefix = fresh_word || words.empty() ? "" : words.back();
  size_t index = fresh_word ? words.size() : words.size() - 1;
  std::vector<std::string> candidates;
  if (index == 0) {
    candidates = commands;
  } else if (index == 1) {
    const auto& c = words[0];
    if (c == "describe" || c == "logs" || c == "restart")
      for (const auto& ws : s.workspaces) candidates.push_back(name_of(ws));
    if (c == "drain")
      for (const auto& m : s.machines) candidates.push_back(m.name);
    if (c == "kill")
      for (const auto& wl : s.workers)
        for (const auto& w : wl.workers) candidates.push_back(w.id);
  }
  std::vector<std::string> out;
  for (auto& w : candidates)
    if (w.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(w));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> split_command_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : line) {
    if (quote != 0) {
      if (ch == quote)
        quote = 0;
      else
        cur.push_back(ch);
      continue;
    }
    if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(ch);
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

}  // namespace kaito::actors
