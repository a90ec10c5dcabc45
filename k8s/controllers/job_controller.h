// job_controller: kaito-cpp's batch/v1 Job controller (there is no kube-controller-manager). One
// pod at a time (parallelism = completions = 1, the shape Kaito's tuning Job has), restartPolicy
// Never.
//
// reconcile_job(env, ns, name):
//   1 read the Job (absent or being deleted -> nothing to do; its pods go by ownerReference GC)
//   2 observe its pods (label job-name=<job>, owned by the Job's uid)
//   3 count active / ready / succeeded / failed; a Job is Complete once a pod Succeeded and Failed
//     (reason BackoffLimitExceeded) once failed > spec.backoffLimit (default 6); finished Jobs stay
//     finished and their active pods are deleted
//   4 otherwise, with no active pod, create `<job>-<i>`: i is the smallest index no existing pod
//     of the Job uses, so a create race answers AlreadyExists instead of a duplicate; the pod is
//     bound to a fitting node at once (scheduling.h) or stays Pending/Unschedulable and is bound
//     by a later reconcile. Evicted pods are deleted, not Failed, so they cost no retry.
//   5 write status (active, ready, succeeded, failed, startTime, completionTime, conditions
//     Complete/Failed) with update_status, only when it changed
//   6 requeue after 5 s while a pod waits for a node (node events should also trigger it:
//     enqueue.h)
//
// Failure: the failed API call's status (see reconcile.h for what is terminal).
// Thread-safety: reentrant; run one reconcile per Job at a time (the actor's queue does that).
#pragma once

#include <string>
#include <vector>

#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

result<reconcile_result> reconcile_job(const controller_env& env, const std::string& ns,
                                       const std::string& name);

// The Job's status over its pods (pure; exposed for tests). `now` is RFC 3339.
json job_status_from_pods(const json& job, const std::vector<json>& pods, const std::string& now);

// True when the Job carries condition Complete=True or Failed=True.
bool job_finished(const json& job);
bool job_condition_true(const json& job, const std::string& type);

}  // namespace kaito::k8s::controllers
