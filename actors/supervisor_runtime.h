// supervisor_runtime: the non-actor parts one supervisor owns (client, informer caches, the
// reader over them, the controllers' environment, the Event recorder, the leader elector and the
// k8s_pool), shared by the supervisor actor and its reconcile actors. Internal to actors/.
//
// Lifetime: created and destroyed by supervisor.cpp; stop() runs before destruction, after which
// no pool job runs any more (so raw pointers to it in pool jobs stay valid while they run).
// Thread-safety: the members are each thread-safe (see their headers).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "actors/k8s_pool.h"
#include "actors/supervisor.h"
#include "k8s/client/informer.h"
#include "k8s/client/leader_election.h"
#include "k8s/controllers/events.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/reconcile.h"

namespace kaito::actors {

class supervisor_runtime {
 public:
  explicit supervisor_runtime(const supervisor_options& o);
  supervisor_options opts;
  std::shared_ptr<k8s::client> client;
  // by kind: "workspace", "job", "statefulset", "pod", "node"
  std::map<std::string, std::unique_ptr<k8s::informer>> informers;
  k8s::controllers::informer_reader reader;
  std::unique_ptr<k8s::controllers::event_recorder> events;
  // Events about pods from what the machines saw and did (mounts, probes, restarts), under the
  // kubelet's component name as `kubectl describe pod` shows them.
  std::unique_ptr<k8s::controllers::event_recorder> kubelet_events;
  k8s::controllers::controller_env env;
  std::unique_ptr<k8s::leader_elector> elector;
  std::shared_ptr<k8s_pool> pool;

  const k8s::informer& cache(const std::string& kind) const { return *informers.at(kind); }
};

// The resource each informer kind watches.
const k8s::resource_ref& kind_resource(const std::string& kind);

}  // namespace kaito::actors

namespace caf {
class actor;
}

namespace kaito::actors {
// Spawns the supervisor's behaviour (supervisor_actor.cpp) over `rt`, which must outlive it.
caf::actor spawn_supervisor_actor(caf::actor_system& sys, supervisor_runtime* rt);
}  // namespace kaito::actors
