// Inference pod failure classification; see pod_failure.h.
#include "k8s/controllers/pod_failure.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>

#include "k8s/client/api_error.h"
#include "k8s/controllers/json_access.h"

namespace kaito::k8s::controllers {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxMessage = 256;

int64_t exit_code(const json& terminated) {
  const json& v = member(terminated, "exitCode");
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// msg cut to max bytes with "..." at the end, backing off to a UTF-8 character boundary.
std::string truncated(const std::string& msg) {
  if (msg.size() <= kMaxMessage) return msg;
  size_t n = kMaxMessage - 3;
  while (n > 0 && (static_cast<unsigned char>(msg[n]) & 0xC0) == 0x80) --n;
  return msg.substr(0, n) + "...";
}

bool image_pull_reason(const std::string& r) {
  return r == "ImagePullBackOff" || r == "ErrImagePull" || r == "InvalidImageName" ||
         r == "ErrImageNeverPull" || r == "ImageInspectError" || r == "RegistryUnavailable";
}

bool start_error_reason(const std::string& r) {
  return r == "CreateContainerConfigError" || r == "PreCreateHookError" ||
         r == "CreateContainerError" || r == "PreStartHookError" || r == "RunContainerError" ||
         r == "PostStartHookError";
}

using container_check = std::function<std::optional<std::string>(const json& cs)>;

std::optional<std::string> oom_killed(const json& cs) {
  for (const json* t :
       {&member(member(cs, "state"), "terminated"), &member(member(cs, "lastState"), "terminated")})
    if (string_field(*t, "reason") == "OOMKilled")
      return "container " + quoted(string_field(cs, "name")) + " was OOMKilled (exit code " +
             std::to_string(exit_code(*t)) + "); reduce memory usage or use a larger instance type";
  return std::nullopt;
}

std::optional<std::string> waiting_for(const json& cs, bool (*pick)(const std::string&),
                                       const char* what) {
  const json& w = member(member(cs, "state"), "waiting");
  std::string reason = string_field(w, "reason");
  if (!pick(reason)) return std::nullopt;
  return "container " + quoted(string_field(cs, "name")) + " " + what + " (" + reason +
         "): " + string_field(w, "message");
}

std::optional<std::string> crash_loop(const json& cs) {
  if (string_field(member(member(cs, "state"), "waiting"), "reason") != "CrashLoopBackOff")
    return std::nullopt;
  std::string msg = "container " + quoted(string_field(cs, "name")) + " is in CrashLoopBackOff";
  const json& last = member(member(cs, "lastState"), "terminated");
  if (last.is_object()) {
    std::string detail = string_field(last, "message");
    if (detail.empty()) detail = "exit code " + std::to_string(exit_code(last));
    msg += "; last termination: " + detail;
  }
  return msg;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::optional<pod_failure> classify_pod_failure(const std::vector<json>& pods) {
  const std::vector<std::pair<const char*, container_check>> checks = {
      {"ContainerOOMKilled", oom_killed},
      {"ImagePullError",
       [](const json& cs) { return waiting_for(cs, image_pull_reason, "image pull failed"); }},
      {"ContainerStartError",
       [](const json& cs) { return waiting_for(cs, start_error_reason, "failed to start"); }},
      {"ContainerCrashLoopBackOff", crash_loop},
  };
  for (const auto& [reason, check] : checks)
    for (const json& pod : pods) {
      const json& statuses = member(member(pod, "status"), "containerStatuses");
      if (!statuses.is_array()) continue;
      for (const json& cs : statuses)
        if (auto msg = check(cs)) return pod_failure{reason, truncated(*msg)};
    }
  for (const json& pod : pods) {
    const json& st = member(pod, "status");
    if (string_field(st, "phase") != "Failed" || string_field(st, "reason") != "Evicted") continue;
    std::string name = quoted(string_field(member(pod, "metadata"), "name"));
    std::string msg = string_field(st, "message"), l = lower(msg);
    if (l.find("ephemeral-storage") != std::string::npos || l.find("disk") != std::string::npos)
      return pod_failure{"NodeDiskPressure",
                         truncated("pod " + name + " evicted due to node disk pressure: " + msg)};
    if (l.find("memory") != std::string::npos)
      return pod_failure{"NodeMemoryPressure",
                         truncated("pod " + name + " evicted due to node memory pressure: " + msg)};
    return pod_failure{"PodEvicted", truncated("pod " + name + " was evicted: " + msg)};
  }
  for (const json& pod : pods) {
    const json& st = member(pod, "status");
    if (string_field(st, "phase") != "Pending" || !member(st, "conditions").is_array()) continue;
    for (const json& c : member(st, "conditions"))
      if (string_field(c, "type") == "PodScheduled" && string_field(c, "status") == "False" &&
          string_field(c, "reason") == "Unschedulable")
        return pod_failure{
            "Unschedulable",
            truncated("pod " + quoted(string_field(member(pod, "metadata"), "name")) +
                      " is unschedulable: " + string_field(c, "message"))};
  }
  return std::nullopt;
}

}  // namespace kaito::k8s::controllers
