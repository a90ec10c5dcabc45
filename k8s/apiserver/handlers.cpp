// Routing and the non-object endpoints; see handlers.h.
#include "k8s/apiserver/handlers.h"

#include "k8s/apiserver/body.h"
#include "k8s/apiserver/discovery.h"
#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/openapi.h"

namespace kaito::k8s::apiserver {

namespace {

api_response group_info(api_context& ctx, const std::string& group) {
  std::vector<std::string> versions;
  for (const auto& d : ctx.reg.all())
    if (d->group == group)
      for (const auto& v : d->versions)
        if (std::find(versions.begin(), versions.end(), v) == versions.end()) versions.push_back(v);
  if (versions.empty()) return path_not_found();
  json vs = json::array();
  for (const auto& v : versions) vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  return api_response::json_body(200, {{"kind", "APIGroup"},
                                       {"apiVersion", "v1"},
                                       {"name", group},
                                       {"versions", vs},
                                       {"preferredVersion", vs[0]}});
}

api_response object_endpoint(api_context& ctx, const api_request& req, const route& r) {
  auto def = ctx.reg.find(r.group, r.version, r.resource);
  if (!def) return path_not_found();
  object_request o{req, r, def};
  if (def->namespaced && r.ns.empty() && !r.name.empty()) return path_not_found();
  if (!def->namespaced && !r.ns.empty()) return path_not_found();
  if (!r.subresource.empty()) {
    bool ok = (r.subresource == "status" && def->status_subresource) ||
              (r.subresource == "log" && def->log_subresource) ||
              (r.subresource == "proxy" && def->proxy_subresource) ||
              (r.subresource == "portforward" && def->portforward_subresource) ||
              (r.subresource == "finalize" && def->resource == "namespaces");
    if (!ok) return path_not_found();
    if (r.subresource == "proxy") return handle_proxy(ctx, o);
    if (r.subresource == "portforward") return handle_port_forward(ctx, o);
    if (r.subresource == "log") {
      if (req.method != "GET") return method_not_allowed();
      return handle_pod_log(ctx, o);
    }
  }
  const std::string& m = req.method;
  if (r.name.empty()) {
    if (m == "GET") return query_flag(req, "watch") ? handle_watch(ctx, o) : handle_list(ctx, o);
    if (m == "POST") return handle_create(ctx, o);
    if (m == "DELETE") return handle_delete_collection(ctx, o);
    return method_not_allowed();
  }
  if (m == "GET") return handle_get(ctx, o);
  if (m == "PUT") return handle_update(ctx, o);
  if (m == "PATCH") return handle_patch(ctx, o);
  if (m == "DELETE" && r.subresource.empty()) return handle_delete(ctx, o);
  if (m == "POST") return method_not_allowed();
  return method_not_allowed();
}

}  // namespace

bool query_flag(const api_request& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return false;
  const std::string& v = it->second;
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True";
}

std::string query_value(const api_request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

json present(const resource_def& def, const std::string& version, const json& obj) {
  json out = obj;
  out["apiVersion"] = def.api_version(version);
  out["kind"] = def.kind;
  return out;
}

void refresh_crds(api_context& ctx) {
  auto defs = ctx.reg.all();
  std::vector<json> crds;
  for (const auto& item : ctx.db.list("apiextensions.k8s.io/customresourcedefinitions", "").items)
    crds.push_back(*item);
  ctx.reg.set_crds(crds);
}

api_response handle(api_context& ctx, const api_request& req) {
  route r = parse_route(req.path);
  bool read_only = r.k != route::kind::object;
  if (read_only && req.method != "GET" && req.method != "HEAD") {
    if (r.k == route::kind::unknown) return path_not_found();
    return method_not_allowed();
  }
  switch (r.k) {
    case route::kind::version:
      return api_response::json_body(200, version_info());
    case route::kind::health: {
      api_response h;
      h.content_type = "text/plain; charset=utf-8";
      h.body = "ok";
      return h;
    }
    case route::kind::core_discovery:
      return discovery_core(ctx.reg, req.accept, ctx.host_port);
    case route::kind::groups_discovery:
      return discovery_groups(ctx.reg, req.accept);
    case route::kind::group:
      return group_info(ctx, r.group);
    case route::kind::resource_list:
      if (r.group.empty() && r.version != "v1") return path_not_found();
      return discovery_resources(ctx.reg, r.group, r.version);
    case route::kind::openapi_index:
      return openapi_index(ctx.reg);
    case route::kind::openapi_doc:
      return openapi_group_version(ctx.reg, r.group, r.version);
    case route::kind::openapi_v2:
    case route::kind::unknown:
      return path_not_found();
    case route::kind::object:
      return object_endpoint(ctx, req, r);
  }
  return path_not_found();
}

}  // namespace kaito::k8s::apiserver
