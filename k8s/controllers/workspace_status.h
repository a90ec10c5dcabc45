// workspace_status: the Workspace's status as a pure function of what one reconcile observed
// (habit 12 step 5): conditions with Kaito's types and reasons (kaito.md 1.6, 3.5), status.state
// (1.5), workerNodes and targetNodeCount.
//
// Tuning:    NodeClaimReady, NodesReady, ResourceReady, JobStarted, WorkspaceSucceeded.
// Inference: NodeClaimReady, NodesReady, ResourceReady, InferenceReady, WorkspaceSucceeded.
// Deleting:  WorkspaceDeleting=True/workspaceDeleted is added; the rest stay as they were.
// A condition whose inputs are not observed yet (no Job / StatefulSet) is Unknown. On the first
// visit (no conditions yet) every condition is Unknown.
//
// An inference Workspace whose replicas are not all ready gets Kaito's classified reason on
// InferenceReady when its pods show one (ContainerCrashLoopBackOff, ContainerOOMKilled,
// Unschedulable...: pod_failure.h), else WorkspaceInferenceStatusPending.
//
// Departure from Kaito, on purpose: a tuning Workspace is Failed when its Job has condition
// Failed (retries exhausted), not at the first failed pod, so retries within backoffLimit do not
// flip it to Failed and back.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/controllers/workspace_desired.h"

namespace kaito::k8s::controllers {

struct workspace_observation {
  bool first_visit = false;
  std::vector<std::string> claimed_nodes;  // names, sorted
  int64_t ready_claimed = 0;               // claimed and Ready
  int64_t free_matching = 0;               // free machines that would qualify
  std::optional<json> job;                 // tuning: the Job, if it exists
  std::optional<json> statefulset;         // inference: the StatefulSet, if it exists
  std::vector<json> pods;      // inference, while not all replicas are ready: the Workspace's pods
  std::string workload_error;  // e.g. an invalid self-test annotation
};

// `old_status` is the live status (for lastTransitionTime and NotReady-after-Ready); `now` RFC
// 3339.
json compute_workspace_status(const workspace_facts& f, const json& old_status,
                              const workspace_observation& o, const std::string& now);

}  // namespace kaito::k8s::controllers
