// Container log files; see pod_log_files.h.
#include "actors/pod_log_files.h"

#include <filesystem>
#include <fstream>

#include "k8s/client/api_error.h"

namespace kaito::actors {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string pod_log_container(const json& pod) {
  if (!pod.is_object() || !pod.contains("spec") || !pod["spec"].is_object()) return "main";
  const json& spec = pod["spec"];
  if (!spec.contains("containers") || !spec["containers"].is_array() ||
      spec["containers"].empty() || !spec["containers"][0].is_object())
    return "main";
  const json& name = spec["containers"][0].value("name", json());
  return name.is_string() && !name.get<std::string>().empty() ? name.get<std::string>() : "main";
}

std::string pod_log_path(const std::string& home, const json& pod, bool previous) {
  return (fs::path(home) / "logs" / k8s::meta_string(pod, "namespace") /
          k8s::meta_string(pod, "name") /
          (pod_log_container(pod) + (previous ? ".previous.log" : ".log")))
      .string();
}

std::string pod_report_log_line(const msg::pod_report& r) {
  auto ended = [&](const std::string& head, int32_t code, const std::string& reason,
                   const std::string& message) {
    return head + " exit=" + std::to_string(code) + " " + reason +
           (message.empty() ? "" : ": " + message);
  };
  if (r.phase == "Succeeded" || r.phase == "Failed")
    return ended(r.phase, r.exit_code, r.reason, r.message);
  if (r.container_state == "terminated")
    return ended("Terminated", r.exit_code, r.reason, r.message);
  if (r.container_state == "waiting" && r.last_exit.finished_at_ms > 0)
    return ended("Terminated", r.last_exit.exit_code, r.last_exit.reason, r.last_exit.message);
  return r.progress;
}

void append_pod_log(const std::string& home, const json& pod, const std::string& line) {
  if (home.empty()) return;
  fs::path path = pod_log_path(home, pod);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

void rotate_pod_log(const std::string& home, const json& pod) {
  if (home.empty()) return;
  std::error_code ec;
  fs::rename(pod_log_path(home, pod), pod_log_path(home, pod, true), ec);  // none yet: nothing
}

void remove_pod_logs(const std::string& home, const std::string& ns, const std::string& name) {
  if (home.empty() || ns.empty() || name.empty() || ns.find('/') != std::string::npos ||
      name.find('/') != std::string::npos || ns == ".." || name == "..")
    return;
  std::error_code ec;
  fs::remove_all(fs::path(home) / "logs" / ns / name, ec);
}

}  // namespace kaito::actors
