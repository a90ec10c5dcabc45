// enqueue: which reconcile keys ("ns/name") an event about an object should trigger, for the
// actor layer's watches.
//
//   Workspace events             -> reconcile_workspace(ns, name)
//   Job / StatefulSet / Service / ControllerRevision / Pod events
//                                -> workspace_keys_for(obj)   (labels or ownerReference)
//   Pod events                   -> job_keys_for(pod) -> reconcile_job,
//                                   statefulset_keys_for(pod) -> reconcile_statefulset
//   Job events                   -> make_key(ns, name) -> reconcile_job
//   StatefulSet events           -> make_key(ns, name) -> reconcile_statefulset
//   Node events                  -> workspace_keys_for(node) (its claim), and when
//                                   node_event_frees_capacity(old, new): every Workspace not yet
//                                   ResourceReady and every Job/StatefulSet with a pod Pending
//                                   without a node.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::controllers {

using json = nlohmann::json;

std::vector<std::string> workspace_keys_for(const json& obj);
std::vector<std::string> job_keys_for(const json& pod);
std::vector<std::string> statefulset_keys_for(const json& pod);
// True when the new node (null on delete) offers capacity the old one (null on add) did not: it
// became Ready, was added Ready, lost its claim, or its worker slots grew. Also true when a Ready
// node goes away or turns NotReady (its workloads must move).
bool node_event_frees_capacity(const json& old_node, const json& new_node);

}  // namespace kaito::k8s::controllers
