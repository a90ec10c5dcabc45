// table_cells: the text of built-in Table cells, as kube-apiserver's printers (printers.go) write
// them, and the untrusted-JSON accessors they share with tables.cpp. Internal to the API server.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

// j[path...] or a null json when any step is missing or not an object.
const json& at(const json& j, std::initializer_list<const char*> path);
std::string s_or(const json& v, const std::string& dflt);
int64_t i_or(const json& v, int64_t dflt);

// printPod's READY / STATUS / RESTARTS: ready = running containers that are ready, of the spec's;
// status = the phase (or status.reason), overridden by a container's waiting or terminated
// reason (CrashLoopBackOff, Error, ExitCode:N...), "Terminating" while deleted; restarts = the
// containers' restartCount summed, with " (5m ago)" from the newest lastState.terminated. Init
// containers are not read (kaito-cpp's pods have none).
struct pod_cells {
  std::string ready, status, restarts;
};
pod_cells pod_row_cells(const json& pod, std::time_t now);
std::string service_ports(const json& service);  // "80/TCP,443:30443/TCP"
// formatEndpoints: ip:port of each ready address, at most 3 then " + N more...".
std::string endpoints_text(const json& endpoints);
// An EndpointSlice's ports ("5000,5001", "<unset>") and addresses (at most 3, "+ N more...").
std::string slice_ports_text(const json& slice);
std::string slice_endpoints_text(const json& slice);
std::string job_status(const json& job);
std::string job_duration(const json& job, std::time_t now);
std::string map_text(const json& m);  // "a=b,c=d" or "<none>"

}  // namespace kaito::k8s::apiserver
