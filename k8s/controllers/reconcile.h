// reconcile: what every controller in k8s/controllers/ shares: the result of one reconcile, the
// environment a reconcile runs in, the resources the controllers touch, and error classification.
//
// A reconciler is a plain function `result<reconcile_result> reconcile_<thing>(env, ns, name)`
// (style.md habit 12). It knows nothing about actors: the caller owns queueing, coalescing,
// backoff on error and requeue_after timers (habit 13).
//
// Errors: every reconciler returns the first failed API call's status. is_terminal() says whether a
// retry can help: invalid_argument (the object itself is wrong), permission_denied,
// unauthenticated and unimplemented are terminal; conflict, already_exists, not_found (a child
// vanished between read and write), unavailable, deadline_exceeded, io_error and internal are
// retryable with backoff.
//
// Thread-safety: controller_env is a bundle of pointers; the pointees must be safe to use from the
// calling threads (k8s::client and the readers are).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "base/status.h"
#include "k8s/client/client.h"
#include "k8s/client/clock.h"

namespace kaito::presets {
class preset_catalog;
}

namespace kaito::k8s::controllers {

class event_recorder;
class object_reader;

struct reconcile_result {
  // 0: no time-based wait (the next trigger is an event); > 0: reconcile again after this long.
  std::chrono::milliseconds requeue_after{0};
};

struct controller_env {
  k8s::client* client = nullptr;  // writes (and reads when `reader` is null); must outlive calls
  const presets::preset_catalog* presets = nullptr;  // may be null: no preset/SKU facts
  std::shared_ptr<clock_source> clock = real_clock::instance();
  event_recorder* events = nullptr;  // may be null: no Events written
  std::string release_namespace = "kaito-workspace";
  // Reads of owned objects (informer caches); null: read through `client`. A cache may be stale:
  // every write uses deterministic names or resourceVersion preconditions, so a stale read costs a
  // retry, never a duplicate.
  object_reader* reader = nullptr;
};

// True when retrying the same reconcile cannot succeed (see the header comment).
bool is_terminal(const status& s);

// The resources the controllers read and write.
namespace resources {
inline const resource_ref kWorkspaces{"kaito.sh", "v1beta1", "workspaces", true};
inline const resource_ref kNodes{"", "v1", "nodes", false};
inline const resource_ref kPods{"", "v1", "pods", true};
inline const resource_ref kServices{"", "v1", "services", true};
inline const resource_ref kEndpoints{"", "v1", "endpoints", true};
inline const resource_ref kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", true};
inline const resource_ref kSecrets{"", "v1", "secrets", true};
inline const resource_ref kConfigMaps{"", "v1", "configmaps", true};
inline const resource_ref kEvents{"", "v1", "events", true};
inline const resource_ref kJobs{"batch", "v1", "jobs", true};
inline const resource_ref kStatefulSets{"apps", "v1", "statefulsets", true};
inline const resource_ref kControllerRevisions{"apps", "v1", "controllerrevisions", true};
}  // namespace resources

// "ns/name" work-queue keys (cluster-scoped objects: "name").
std::string make_key(const std::string& ns, const std::string& name);
// Splits "ns/name" (or "name" -> {"", name}).
std::pair<std::string, std::string> split_key(const std::string& key);

}  // namespace kaito::k8s::controllers
