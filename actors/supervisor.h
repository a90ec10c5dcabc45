// supervisor: the control plane's actor (one per `kaito up` / `kaito operator`): leader election,
// informers feeding one reconcile actor per Workspace / Job / StatefulSet / Service (its
// Endpoints), the admitted machines (Nodes: register, heartbeats, NotReady + eviction on loss),
// pod dispatch to machines, pod reports into Pod status, and the `kaito shell` commands. See
// /work/notes/runtime_design.md.
//
//   supervisor_options o; o.client = client; o.token = token; ...
//   auto sup = start_supervisor(sys, o);          // informers synced, elector running
//   sys.middleman().publish((*sup)->actor(), port, "127.0.0.1", true);
//   ...
//   (*sup)->stop();                               // before the actor_system goes away
//
// Failure: start_supervisor returns unavailable when the informers do not sync within
// sync_timeout (API server unreachable or CRD missing). Thread-safety: start/stop from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "actors/reconcile_queue.h"
#include "base/status.h"
#include "k8s/client/client.h"
#include "protocol/messages/interfaces.h"

namespace caf {
class actor_system;
}
namespace kaito::presets {
class preset_catalog;
}

namespace kaito::actors {

struct supervisor_options {
  std::shared_ptr<k8s::client> client;
  const presets::preset_catalog* presets = nullptr;  // may be null; must outlive the supervisor
  std::string token;                                 // the join token (machines and shells)
  std::chrono::milliseconds node_timeout{5000};
  std::chrono::milliseconds heartbeat_interval{1000};  // told to machines in the welcome
  std::string identity;  // leader-election identity (stable across restarts of one process)
  std::string home;      // "" or the apiserver home: progress lines also go to its pod logs
  std::string release_namespace = "kaito-workspace";
  std::string lease_namespace = "kaito-workspace";
  std::string lease_name = "kaito-operator";
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // Per-key retry delay after a failed reconcile: base * 2^(failures-1), capped; reset by a
  // success. controller-runtime uses 5 ms .. 1000 s; one local control plane retries at least
  // every 10 s.
  backoff_options reconcile_backoff{.base = std::chrono::milliseconds(100),
                                    .max = std::chrono::milliseconds(10000)};
  size_t pool_threads = 4;  // threads for blocking k8s calls
  std::chrono::milliseconds sync_timeout{30000};
};

class supervisor_runtime;

class supervisor_handle {
 public:
  supervisor_handle(caf::actor_system& sys, std::shared_ptr<supervisor_runtime> rt,
                    msg::supervisor_actor actor);
  ~supervisor_handle();
  supervisor_handle(const supervisor_handle&) = delete;
  supervisor_handle& operator=(const supervisor_handle&) = delete;

  const msg::supervisor_actor& actor() const { return actor_; }
  // True while this process holds the lease (its supervisor reconciles and admits machines).
  bool leading() const;
  // Stops informers and the elector, terminates the supervisor and its reconcile actors, and
  // waits for running k8s calls. Idempotent.
  void stop();

 private:
  caf::actor_system& sys_;
  std::shared_ptr<supervisor_runtime> rt_;
  msg::supervisor_actor actor_;
  bool stopped_ = false;
};

result<std::unique_ptr<supervisor_handle>> start_supervisor(caf::actor_system& sys,
                                                            const supervisor_options& o);

}  // namespace kaito::actors
