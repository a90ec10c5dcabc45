// workspace_controller: the Workspace reconciler (Kaito's pkg/workspace/controllers, kaito.md 3.1),
// a plain function over the API (style.md habit 12).
//
// reconcile_workspace(env, ns, name):
//   1 read the Workspace (absent -> done). Being deleted -> WorkspaceDeleting=True, delete the
//     Job / StatefulSet / Services, release the node claims, remove finalizer
//     workspace.finalizer.kaito.sh; done.
//   2 add the finalizer; on the first visit (no conditions yet) write every condition Unknown,
//     state Pending, and return (requeue_after 1 ms).
//   3 revision: hash of {resource, inference, tuning}; when it differs from the Workspace's
//     workspace.kaito.io/hash annotation, find or create ControllerRevision `<ws>-<hash[:5]>`
//     (revision = last + 1; a returning hash gets last + 1 again), keep 10, and annotate the
//     Workspace with workspace.kaito.io/hash and workspace.kaito.io/revision.
//   4 nodes: claimed nodes (labels kaito.sh/workspace, kaito.sh/workspacenamespace) count first;
//     NotReady ones are released; free Ready machines of the instance type (or
//     kaito.sh/instance-type-any) are claimed (merge patch under the node's resourceVersion) until
//     targetNodeCount are held. A finished tuning Job freezes the claims.
//   5 workload (only once ResourceReady): tuning -> Job `<ws>`; a Job of another revision is
//     deleted (Foreground) and re-created. Inference -> Services `<ws>`, `<ws>-headless` and
//     StatefulSet `<ws>` (template and replicas updated on a new revision).
//   6 status computed once (workspace_status.h), written only if it changed; one Event per
//     condition flip. requeue_after 2 s while machines are missing.
//
// A steady-state reconcile of an unchanged, finished Workspace reads the Workspace, its Job or
// StatefulSet (+ Services) and its claimed Nodes, and writes nothing.
//
// Failure: the first failed call's status; is_terminal() says whether to retry. A Workspace the
// reconciler cannot read (no tuning/inference) is invalid_argument (terminal); an invalid
// kaito.sh/self-test-seconds is reported in the conditions, not as an error.
// Thread-safety: reentrant; one reconcile per Workspace at a time (the actor's queue).
#pragma once

#include <string>

#include "k8s/controllers/reconcile.h"

namespace kaito::k8s::controllers {

result<reconcile_result> reconcile_workspace(const controller_env& env, const std::string& ns,
                                             const std::string& name);

}  // namespace kaito::k8s::controllers
