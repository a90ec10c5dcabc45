// supervisor_actions: the `kaito shell` commands that change the cluster, as plain blocking
// functions over the k8s client (the supervisor runs them on its k8s_pool).
//
//   drain <machine>:  Node spec.unschedulable = true (cordon), then evict its pods (their Job /
//                     StatefulSet controllers re-create them elsewhere)
//   restart <ws>:     delete the Workspace's Job (Background; the Workspace reconciler creates it
//                     again) and the Workspace's pods (label kaito.sh/workspace or job-name = ws,
//                     or owned by an object named ws)
//
// Each returns the reply text, or the failed API call's status (not_found names the object).
// Thread-safety: free functions; the client is thread-safe.
#pragma once

#include <string>

#include "base/status.h"
#include "k8s/client/client.h"

namespace kaito::k8s::controllers {
class event_recorder;
}

namespace kaito::actors {

result<std::string> drain_machine(k8s::client& c, k8s::controllers::event_recorder* events,
                                  const std::string& node);
result<std::string> restart_workspace(k8s::client& c, const std::string& ns,
                                      const std::string& name);

}  // namespace kaito::actors
