// Discovery documents; see discovery.h.
#include "k8s/apiserver/discovery.h"

#include "k8s/apiserver/errors.h"

#include <algorithm>

namespace kaito::k8s::apiserver {

namespace {

const json kVerbs = {"create", "delete", "deletecollection", "get",
                     "list",   "patch",  "update",           "watch"};

// kube-apiserver's verbs for pods/proxy and services/proxy (every method is forwarded).
const json kProxyVerbs = {"create", "delete", "get", "patch", "update"};

// "PodProxyOptions", "ServiceProxyOptions".
std::string proxy_kind(const resource_def& d) {
  return d.kind + "ProxyOptions";
}

json response_kind(const resource_def& d, const std::string& version) {
  return {{"group", d.group}, {"version", version}, {"kind", d.kind}};
}

json aggregated_resource(const resource_def& d, const std::string& version) {
  json r = {{"resource", d.resource},
            {"responseKind", response_kind(d, version)},
            {"scope", d.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", d.singular},
            {"verbs", kVerbs}};
  if (!d.short_names.empty()) r["shortNames"] = d.short_names;
  if (!d.categories.empty()) r["categories"] = d.categories;
  json subs = json::array();
  if (d.status_subresource)
    subs.push_back({{"subresource", "status"},
                    {"responseKind", response_kind(d, version)},
                    {"verbs", {"get", "patch", "update"}}});
  if (d.log_subresource)
    subs.push_back({{"subresource", "log"},
                    {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                    {"verbs", {"get"}}});
  if (d.proxy_subresource)
    subs.push_back({{"subresource", "proxy"},
                    {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", proxy_kind(d)}}},
                    {"verbs", kProxyVerbs}});
  if (d.portforward_subresource)
    subs.push_back(
        {{"subresource", "portforward"},
         {"responseKind", {{"group", ""}, {"version", "v1"}, {"kind", "PodPortForwardOptions"}}},
         {"verbs", {"create", "get"}}});
  if (!subs.empty()) r["subresources"] = subs;
  return r;
}

// Groups in a stable order with their versions (preferred first).
std::vector<std::pair<std::string, std::vector<std::string>>> group_versions(const registry& reg,
                                                                             bool core) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& d : reg.all()) {
    if (d->group.empty() != core) continue;
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == d->group; });
    if (it == out.end()) {
      out.push_back({d->group, {}});
      it = out.end() - 1;
    }
    for (const auto& v : d->versions)
      if (std::find(it->second.begin(), it->second.end(), v) == it->second.end())
        it->second.push_back(v);
  }
  return out;
}

json aggregated(const registry& reg, bool core) {
  json items = json::array();
  auto defs = reg.all();
  for (const auto& [group, versions] : group_versions(reg, core)) {
    json vs = json::array();
    for (const auto& v : versions) {
      json resources = json::array();
      for (const auto& d : defs)
        if (d->group == group && d->serves(v)) resources.push_back(aggregated_resource(*d, v));
      vs.push_back({{"version", v}, {"resources", resources}, {"freshness", "Current"}});
    }
    items.push_back(
        {{"metadata", {{"name", group}, {"creationTimestamp", nullptr}}}, {"versions", vs}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", json::object()},
          {"items", items}};
}

}  // namespace

bool wants_aggregated(const std::string& accept) {
  return accept.find("as=APIGroupDiscoveryList") != std::string::npos &&
         accept.find("v=v2") != std::string::npos &&
         accept.find("g=apidiscovery.k8s.io") != std::string::npos;
}

json version_info() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.0-kaito"},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2026-01-01T00:00:00Z"},
          {"goVersion", "go1.23.4"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

api_response discovery_core(const registry& reg, const std::string& accept,
                            const std::string& host) {
  if (wants_aggregated(accept))
    return api_response::json_body(200, aggregated(reg, true), kAggregatedDiscoveryType);
  return api_response::json_body(200, {{"kind", "APIVersions"},
                                       {"versions", {"v1"}},
                                       {"serverAddressByClientCIDRs",
                                        {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", host}}}}});
}

api_response discovery_groups(const registry& reg, const std::string& accept) {
  if (wants_aggregated(accept))
    return api_response::json_body(200, aggregated(reg, false), kAggregatedDiscoveryType);
  json groups = json::array();
  for (const auto& [group, versions] : group_versions(reg, false)) {
    json vs = json::array();
    for (const auto& v : versions)
      vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
    groups.push_back(
        {{"name", group},
         {"versions", vs},
         {"preferredVersion",
          {{"groupVersion", group + "/" + versions.front()}, {"version", versions.front()}}}});
  }
  return api_response::json_body(
      200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
}

api_response discovery_resources(const registry& reg, const std::string& group,
                                 const std::string& version) {
  json resources = json::array();
  for (const auto& d : reg.all()) {
    if (d->group != group || !d->serves(version)) continue;
    json r = {{"name", d->resource},
              {"singularName", d->singular},
              {"namespaced", d->namespaced},
              {"kind", d->kind},
              {"verbs", kVerbs}};
    if (!d->short_names.empty()) r["shortNames"] = d->short_names;
    if (!d->categories.empty()) r["categories"] = d->categories;
    resources.push_back(r);
    if (d->status_subresource)
      resources.push_back({{"name", d->resource + "/status"},
                           {"singularName", ""},
                           {"namespaced", d->namespaced},
                           {"kind", d->kind},
                           {"verbs", {"get", "patch", "update"}}});
    if (d->log_subresource)
      resources.push_back({{"name", d->resource + "/log"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "Pod"},
                           {"verbs", {"get"}}});
    if (d->proxy_subresource)
      resources.push_back({{"name", d->resource + "/proxy"},
                           {"singularName", ""},
                           {"namespaced", d->namespaced},
                           {"kind", proxy_kind(*d)},
                           {"verbs", kProxyVerbs}});
    if (d->portforward_subresource)
      resources.push_back({{"name", d->resource + "/portforward"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "PodPortForwardOptions"},
                           {"verbs", {"create", "get"}}});
  }
  if (resources.empty()) {
    return path_not_found();
  }
  std::string gv = group.empty() ? version : group + "/" + version;
  return api_response::json_body(200, {{"kind", "APIResourceList"},
                                       {"apiVersion", "v1"},
                                       {"groupVersion", gv},
                                       {"resources", resources}});
}

}  // namespace kaito::k8s::apiserver
