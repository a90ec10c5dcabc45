// pod_log_files: the container log files `kubectl logs` reads (k8s/apiserver/pod_logs.cpp):
// <home>/logs/<namespace>/<pod>/<container>.log, written by the supervisor from its machines' pod
// reports (their progress lines and how each container ended). When the machine restarts the
// container, its log becomes <container>.previous.log (`kubectl logs --previous`), replacing the
// one before, as the kubelet keeps the previous container's log only. A deleted pod's logs go
// with it.
//
// Thread-safety: free functions over files; one writer (the supervisor actor).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/messages/machine.h"

namespace kaito::actors {

// The pod's first container's name ("main" when the spec has none).
std::string pod_log_container(const nlohmann::json& pod);
// <home>/logs/<namespace>/<pod>/<container>.log (previous: .previous.log).
std::string pod_log_path(const std::string& home, const nlohmann::json& pod, bool previous = false);

// The line a report adds to its pod's log: its progress; how the container ended (a terminal
// phase, or a Running pod's container that terminated or waits to restart); "" for none.
std::string pod_report_log_line(const msg::pod_report& r);

void append_pod_log(const std::string& home, const nlohmann::json& pod, const std::string& line);
// The container restarted: its log so far becomes the previous one.
void rotate_pod_log(const std::string& home, const nlohmann::json& pod);
// The pod was deleted: <home>/logs/<namespace>/<pod> goes.
void remove_pod_logs(const std::string& home, const std::string& ns, const std::string& name);

}  // namespace kaito::actors
