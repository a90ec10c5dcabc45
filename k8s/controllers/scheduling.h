// scheduling: kaito-cpp's stand-in for kube-scheduler, used by the job and statefulset
// controllers. A pod fits a node when the node is Ready, carries every label of the pod's
// spec.nodeSelector, and has a free worker slot: fewer non-terminal, non-deleting pods bound to it
// than its allocatable kaito.sh/worker-slots. Among the nodes that fit, the first by name wins
// (deterministic, so two reconciles of the same world agree).
//
// Pods are created already bound (spec.nodeName) when a node fits, else Pending with condition
// PodScheduled=False reason Unschedulable and a kube-scheduler-like message ("0/3 nodes are
// available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) had no free worker
// slot."); bind_pending_pod binds such a pod later.
//
// Thread-safety: free functions. Two controllers binding at the same instant may both see the
// same free slot (there is no binding subresource to arbitrate); the machine then runs one pod
// more than its slots until the next reconcile sees it.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "k8s/client/client.h"
#include "k8s/controllers/object_reader.h"

namespace kaito::k8s::controllers {

struct placement {
  std::string node;     // "" when nothing fits
  std::string message;  // why nothing fits
};

// `planned`: pods this reconcile already placed, per node (counted against slots; updated when a
// node is chosen).
result<placement> choose_node(object_reader& r, const json& pod_spec,
                              std::map<std::string, int>& planned);

// A Pod from a template: metadata labels/annotations of the template plus `labels`, a controller
// ownerReference to `owner`, the template's spec with nodeName = p.node, and status Pending with
// PodScheduled set from `p`. `now` is RFC 3339.
json build_pod(const json& pod_template, const std::string& ns, const std::string& name,
               const std::map<std::string, std::string>& labels, const json& owner,
               const placement& p, const std::string& now);

// For a pod without spec.nodeName: binds it to a fitting node (spec.nodeName under a
// resourceVersion precondition, then PodScheduled=True) or records PodScheduled=False/Unschedulable
// with the reason (written only if it changed). Returns true when bound.
result<bool> bind_pending_pod(client& c, object_reader& r, const json& pod,
                              std::map<std::string, int>& planned, const std::string& now);

// The controller ownerReference of `owner` (apiVersion, kind, name, uid, controller,
// blockOwnerDeletion).
json controller_ref(const json& owner);
// True when obj has an ownerReference with that uid.
bool owned_by_uid(const json& obj, const std::string& uid);

}  // namespace kaito::k8s::controllers
