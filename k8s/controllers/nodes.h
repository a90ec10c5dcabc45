// nodes: the Node lifecycle of kaito-cpp machines (register, heartbeat, lost, eviction) and the
// small Node facts every controller reads (Ready, worker slots, claims).
//
// A machine process is a Node. register_node writes its labels (kubernetes.io/hostname, os, arch,
// node.kubernetes.io/instance-type = instance_type or "kaito-cpu", kaito.sh/machine=true, and
// kaito.sh/instance-type-any=true when no instance type was given), capacity = allocatable (cpu,
// memory, nvidia.com/gpu, kaito.sh/worker-slots), addresses, nodeInfo and condition Ready=True.
// It never touches labels it does not own (a workspace's claim labels survive re-registration).
//
// node_heartbeat moves Ready's lastHeartbeatTime in one JSON-patch request guarded by a `test`
// that Ready is already True; when it is not, it falls back to a read and a full status write so
// that lastTransitionTime moves. mark_node_not_ready sets Ready=Unknown (reason
// NodeStatusUnknown, as the node-lifecycle controller does). evict_pods_from_node deletes every
// non-terminal pod bound to the node (taint-based eviction: the pods vanish, so their Job does not
// count a failure and their controller replaces them) and records one Warning Event per pod.
//
// Failure: the failed API call's status (not_found when the node does not exist, except for
// register_node which creates it). Thread-safety: free functions; the client is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "k8s/client/client.h"
#include "k8s/client/clock.h"

namespace kaito::k8s::controllers {

class event_recorder;

struct node_info {
  std::string name;           // the Node name (also kubernetes.io/hostname)
  std::string instance_type;  // empty: "kaito-cpu" + kaito.sh/instance-type-any=true
  int64_t cpu_cores = 1;
  int64_t memory_bytes = 0;
  int64_t gpu_count = 0;     // real GPUs (0 on CPU hosts)
  int64_t worker_slots = 1;  // GPUs, or --slots on CPU hosts
  std::string address;       // InternalIP
  std::string os_image = "linux";
  std::string kernel_version;
  std::string machine_id;
  std::map<std::string, std::string> extra_labels;
};

// The desired labels of a machine's Node (pure; exposed for tests).
std::map<std::string, std::string> node_labels(const node_info& n);

status register_node(client& c, const node_info& n, clock_time now);
status node_heartbeat(client& c, const std::string& name, clock_time now);
status mark_node_not_ready(client& c, const std::string& name, const std::string& reason,
                           const std::string& message, clock_time now);
// Returns the names of the pods deleted. `events` may be null.
result<std::vector<std::string>> evict_pods_from_node(client& c, const std::string& node,
                                                      const std::string& reason,
                                                      event_recorder* events);

// Node facts (untrusted JSON: absent or malformed fields read as not ready / 0).
bool node_ready(const json& node);
int64_t node_worker_slots(const json& node);  // allocatable kaito.sh/worker-slots (default 1)
int64_t node_gpus(const json& node);          // allocatable nvidia.com/gpu
std::string node_label(const json& node, const std::string& key);
std::string node_internal_ip(const json& node);
// A pod counts against a node's slots while it is bound there, not terminal and not deleting.
bool pod_terminal(const json& pod);
std::string pod_phase(const json& pod);
// Its Ready condition is True (kube's IsPodReady).
bool pod_ready(const json& pod);
// metadata.deletionTimestamp is set (any object).
bool deleting(const json& obj);

}  // namespace kaito::k8s::controllers
