// supervisor: start/stop and the wiring of informers and the leader elector to the supervisor
// actor (supervisor_actor.cpp holds the behaviour). Informer handlers run on informer threads:
// they only map the object to reconcile keys (controllers/enqueue.h) and anon_send them.
#include "actors/supervisor.h"

#include "actors/supervisor_atoms.h"
#include "actors/supervisor_runtime.h"
#include "base/log.h"
#include "caf/all.hpp"
#include "k8s/client/api_error.h"
#include "k8s/controllers/endpoints_controller.h"
#include "k8s/controllers/enqueue.h"
#include "k8s/controllers/json_access.h"

namespace kaito::actors {

namespace ctl = k8s::controllers;

const k8s::resource_ref& kind_resource(const std::string& kind) {
  if (kind == "workspace") return ctl::resources::kWorkspaces;
  if (kind == "job") return ctl::resources::kJobs;
  if (kind == "statefulset") return ctl::resources::kStatefulSets;
  if (kind == "pod") return ctl::resources::kPods;
  if (kind == "controllerrevision") return ctl::resources::kControllerRevisions;
  if (kind == "secret") return ctl::resources::kSecrets;
  if (kind == "configmap") return ctl::resources::kConfigMaps;
  if (kind == "service") return ctl::resources::kServices;
  if (kind == "endpoints") return ctl::resources::kEndpoints;
  if (kind == "endpointslice") return ctl::resources::kEndpointSlices;
  return ctl::resources::kNodes;
}

supervisor_runtime::supervisor_runtime(const supervisor_options& o)
    : opts(o), client(o.client), reader(*o.client) {
  // controllerrevision, secret, configmap: read caches only (sync_revision lists revisions; pod
  // volumes are projected from secrets and configmaps); their events trigger nothing, a pod
  // waiting for one is retried on the tick. service, endpoints, endpointslice: the Endpoints
  // controller's.
  for (const char* kind : {"workspace", "job", "statefulset", "pod", "node", "controllerrevision",
                           "secret", "configmap", "service", "endpoints", "endpointslice"}) {
    informers[kind] = std::make_unique<k8s::informer>(*client, kind_resource(kind), "");
    reader.add(kind_resource(kind), informers[kind].get());
  }
  events = std::make_unique<ctl::event_recorder>(*client, k8s::real_clock::instance());
  kubelet_events =
      std::make_unique<ctl::event_recorder>(*client, k8s::real_clock::instance(), "kubelet");
  env.client = client.get();
  env.presets = o.presets;
  env.events = events.get();
  env.release_namespace = o.release_namespace;
  env.reader = &reader;
  pool = std::make_shared<k8s_pool>(o.pool_threads);
}

namespace {

std::string key_of(const k8s::json& o) {
  if (!o.is_object() || !o.contains("metadata") || !o["metadata"].is_object()) return "";
  const auto& md = o["metadata"];
  return ctl::make_key(md.value("namespace", ""), md.value("name", ""));
}

void send_keys(const caf::actor& a, const char* kind, const std::vector<std::string>& keys) {
  for (const auto& k : keys) caf::anon_send(a, event_atom::value, std::string(kind), k);
}

// What an event on an object of `kind` enqueues (old is null on add, obj null on delete).
// "endpoints" keys are Services' (the Endpoints object has the Service's name).
void enqueue(const caf::actor& a, const supervisor_runtime* rt, const std::string& kind,
             const k8s::json& old_obj, const k8s::json& obj, bool deleted) {
  const k8s::json& o = deleted ? old_obj : obj;
  std::string key = key_of(o);
  if (kind == "workspace") {
    send_keys(a, "workspace", {key});
  } else if (kind == "job" || kind == "statefulset") {
    send_keys(a, kind.c_str(), {key});
    send_keys(a, "workspace", ctl::workspace_keys_for(o));
  } else if (kind == "pod") {
    caf::anon_send(a, event_atom::value, std::string(deleted ? "pod-deleted" : "pod"), key);
    send_keys(a, "job", ctl::job_keys_for(o));
    send_keys(a, "statefulset", ctl::statefulset_keys_for(o));
    send_keys(a, "workspace", ctl::workspace_keys_for(o));
    send_keys(
        a, "endpoints",
        ctl::endpoints_keys_for(old_obj, deleted ? k8s::json() : obj, rt->cache("service").list()));
  } else if (kind == "service" || kind == "endpoints") {
    send_keys(a, "endpoints", {key});
  } else if (kind == "endpointslice") {  // the Service it belongs to
    const k8s::json& md = ctl::member(o, "metadata");
    std::string svc = k8s::string_field(ctl::member(md, "labels"), "kubernetes.io/service-name");
    if (!svc.empty())
      send_keys(a, "endpoints", {ctl::make_key(k8s::string_field(md, "namespace"), svc)});
  } else if (kind == "controllerrevision" || kind == "secret" || kind == "configmap") {
    // Read caches (revisions are written by the Workspace reconciler itself; secrets and
    // configmaps feed pod volumes, retried on the tick).
  } else {  // node
    send_keys(a, "workspace", ctl::workspace_keys_for(o));
    if (ctl::node_event_frees_capacity(old_obj, deleted ? k8s::json() : obj))
      caf::anon_send(a, event_atom::value, std::string("resync"), std::string());
  }
}

}  // namespace

supervisor_handle::supervisor_handle(caf::actor_system& sys, std::shared_ptr<supervisor_runtime> rt,
                                     msg::supervisor_actor actor)
    : sys_(sys), rt_(std::move(rt)), actor_(std::move(actor)) {}

supervisor_handle::~supervisor_handle() {
  stop();
}

bool supervisor_handle::leading() const {
  return !stopped_ && rt_->elector && rt_->elector->is_leader();
}

void supervisor_handle::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (rt_->elector) rt_->elector->stop();
  for (auto& [kind, inf] : rt_->informers) inf->stop();
  {
    caf::scoped_actor s{sys_};
    s->send_exit(actor_, caf::exit_reason::user_shutdown);
    s->wait_for(actor_);
  }
  rt_->pool->shutdown();
  actor_ = nullptr;
}

result<std::unique_ptr<supervisor_handle>> start_supervisor(caf::actor_system& sys,
                                                            const supervisor_options& o) {
  if (!o.client) return invalid_argument("no Kubernetes client", "client");
  auto rt = std::make_shared<supervisor_runtime>(o);
  caf::actor a = spawn_supervisor_actor(sys, rt.get());
  auto handle =
      std::make_unique<supervisor_handle>(sys, rt, caf::actor_cast<msg::supervisor_actor>(a));
  const supervisor_runtime* r = rt.get();  // informers stop before rt goes away
  for (auto& [kind, inf] : rt->informers) {
    std::string k = kind;
    inf->add_handlers(
        {.on_add = [a, r, k](const k8s::json& obj) { enqueue(a, r, k, k8s::json(), obj, false); },
         .on_update = [a, r, k](const k8s::json& old_obj,
                                const k8s::json& obj) { enqueue(a, r, k, old_obj, obj, false); },
         .on_delete = [a, r,
                       k](const k8s::json& obj) { enqueue(a, r, k, obj, k8s::json(), true); }});
    inf->start();
  }
  auto deadline = std::chrono::steady_clock::now() + o.sync_timeout;
  for (auto& [kind, inf] : rt->informers) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!inf->wait_for_sync(std::max(left, std::chrono::milliseconds(1)))) {
      auto err = inf->error();
      return status(status_code::unavailable, "the " + kind + " informer did not sync" +
                                                  (err.ok() ? "" : ": " + err.to_string()));
    }
  }
  k8s::leader_election_config lc;
  lc.lease_namespace = o.lease_namespace;
  lc.lease_name = o.lease_name;
  lc.identity = o.identity;
  lc.lease_duration = o.lease_duration;
  lc.renew_deadline = o.renew_deadline;
  lc.retry_period = o.retry_period;
  lc.release_on_stop = true;
  lc.on_started_leading = [a] { caf::anon_send(a, leader_atom::value, true); };
  lc.on_stopped_leading = [a] { caf::anon_send(a, leader_atom::value, false); };
  rt->elector = std::make_unique<k8s::leader_elector>(*rt->client, lc);
  rt->elector->start();
  return handle;
}

}  // namespace kaito::actors
