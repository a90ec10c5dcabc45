// Request handlers. handle() routes one api_request; the others are its pieces, one file each:
//   handlers.cpp         routing, discovery/openapi/version, Accept and Content-Type checks
//   handlers_read.cpp    get, list (selectors, limit/continue), Tables
//   handlers_write.cpp   create, update (PUT), patch, status subresource
//   handlers_delete.cpp  delete, deletecollection, finalizers, ownerReference garbage collection
//   watch.cpp            watch streams
//   pod_logs.cpp         the pods/log subresource
//   service_proxy.cpp    the services/proxy and pods/proxy subresources (proxy_forward.h relays)
//   port_forward.cpp     the pods/portforward subresource (SPDY and websocket upgrades)
//   object_meta.cpp      server-managed metadata (uid, generation, timestamps) shared by writers
#pragma once

#include <string>

#include "k8s/apiserver/api_types.h"
#include "k8s/apiserver/context.h"
#include "k8s/apiserver/route.h"

namespace kaito::k8s::apiserver {

api_response handle(api_context& ctx, const api_request& req);

// One resolved object request: the route plus its resource definition.
struct object_request {
  const api_request& req;
  route r;
  std::shared_ptr<const resource_def> def;
  object_key key() const { return {def->store_key(), def->namespaced ? r.ns : "", r.name}; }
};

api_response handle_get(api_context& ctx, const object_request& o);
api_response handle_list(api_context& ctx, const object_request& o);
api_response handle_watch(api_context& ctx, const object_request& o);
api_response handle_create(api_context& ctx, const object_request& o);
api_response handle_update(api_context& ctx, const object_request& o);
api_response handle_patch(api_context& ctx, const object_request& o);
api_response handle_delete(api_context& ctx, const object_request& o);
api_response handle_delete_collection(api_context& ctx, const object_request& o);
// The garbage collector's absent-owner rule for a just-created object: when it names owners and
// none of them exists any more (a controller raced its owner's deletion), it is deleted at once
// (background propagation), as Kubernetes' garbage collector would shortly after.
void collect_if_orphaned(api_context& ctx, const object_key& key, const json& obj);
api_response handle_pod_log(api_context& ctx, const object_request& o);
// NAME/proxy[/PATH] of services and pods, any method: see service_proxy.cpp.
api_response handle_proxy(api_context& ctx, const object_request& o);
// NAME/portforward of pods, an upgrade to a port-forward session: see port_forward.cpp.
api_response handle_port_forward(api_context& ctx, const object_request& o);

// Shared helpers.
// The object as served in `version`: apiVersion/kind set.
json present(const resource_def& def, const std::string& version, const json& obj);
// Deletes the object now (no finalizers left) and garbage-collects its dependents.
api_response finish_delete(api_context& ctx, const object_request& o, const json& live,
                           bool return_object);
// Re-reads the CRDs into the registry (after a CRD write).
void refresh_crds(api_context& ctx);
// True when the query flag is set the way Go's strconv.ParseBool reads it ("true", "True", "1").
bool query_flag(const api_request& req, const std::string& name);
std::string query_value(const api_request& req, const std::string& name);

}  // namespace kaito::k8s::apiserver
