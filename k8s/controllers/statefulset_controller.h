// statefulset_controller: kaito-cpp's apps/v1 StatefulSet controller, for Kaito's inference
// workload (podManagementPolicy Parallel).
//
// reconcile_statefulset(env, ns, name):
//   1 read the StatefulSet (absent or being deleted -> nothing to do)
//   2 observe its pods (spec.selector.matchLabels, owned by its uid)
//   3 the update revision is `<sts>-<10 hex of FNV-1a over spec.template>`, carried by each pod in
//     label controller-revision-hash
//   4 converge: create every missing `<sts>-<i>` for i < replicas (bound at once when a node fits,
//     else Pending/Unschedulable); delete Failed pods (they are re-created by the next pass) and
//     pods with i >= replicas; bind pending ones; when every pod exists, delete one pod of an old
//     revision at a time, highest ordinal first (RollingUpdate, maxUnavailable 1)
//   5 write status (observedGeneration, replicas, readyReplicas, currentReplicas,
//     updatedReplicas, availableReplicas, currentRevision, updateRevision) only when it changed
//   6 requeue after 5 s while a pod waits for a node; after 1 s when a Failed pod was deleted
//
// Failure: the failed API call's status. Thread-safety: as job_controller.h.
#pragma once

#include <string>
#include <vector>

#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

result<reconcile_result> reconcile_statefulset(const controller_env& env, const std::string& ns,
                                               const std::string& name);

// The update revision name of a StatefulSet (pure).
std::string statefulset_revision(const json& sts);
// Its status over its pods (pure; exposed for tests).
json statefulset_status_from_pods(const json& sts, const std::vector<json>& pods);

}  // namespace kaito::k8s::controllers
