// Built-in resource table and CRD -> resource_def; see resources.h.
#include "k8s/apiserver/resources.h"

#include <algorithm>
#include <mutex>

namespace kaito::k8s::apiserver {

bool resource_def::serves(const std::string& version) const {
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

namespace {

std::shared_ptr<const resource_def> builtin(std::string group, std::string version,
                                            std::string resource, std::string kind, bool namespaced,
                                            std::vector<std::string> short_names,
                                            std::vector<std::string> categories, bool status = true,
                                            bool custom = false) {
  auto d = std::make_shared<resource_def>();
  d->group = std::move(group);
  d->versions = {std::move(version)};
  d->resource = std::move(resource);
  d->kind = kind;
  std::string s = kind;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  d->singular = s;
  d->namespaced = namespaced;
  d->short_names = std::move(short_names);
  d->categories = std::move(categories);
  d->status_subresource = status;
  d->custom = custom;
  return d;
}

const json* field(const json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::string str(const json& j, const char* name) {
  const json* f = field(j, name);
  return f && f->is_string() ? f->get<std::string>() : std::string();
}

std::vector<std::string> strings(const json* j) {
  std::vector<std::string> out;
  if (j && j->is_array())
    for (const auto& e : *j)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

}  // namespace

registry::registry() {
  builtins_ = {
      builtin("", "v1", "namespaces", "Namespace", false, {"ns"}, {}),
      builtin("", "v1", "pods", "Pod", true, {"po"}, {"all"}),
      builtin("", "v1", "services", "Service", true, {"svc"}, {"all"}),
      builtin("", "v1", "endpoints", "Endpoints", true, {"ep"}, {}, false),
      builtin("", "v1", "configmaps", "ConfigMap", true, {"cm"}, {}, false),
      builtin("", "v1", "secrets", "Secret", true, {}, {}, false),
      builtin("", "v1", "events", "Event", true, {"ev"}, {}, false),
      builtin("", "v1", "nodes", "Node", false, {"no"}, {}),
      builtin("apps", "v1", "deployments", "Deployment", true, {"deploy"}, {"all"}),
      builtin("apps", "v1", "statefulsets", "StatefulSet", true, {"sts"}, {"all"}),
      builtin("apps", "v1", "controllerrevisions", "ControllerRevision", true, {}, {}, false),
      builtin("batch", "v1", "jobs", "Job", true, {}, {"all"}),
      builtin("coordination.k8s.io", "v1", "leases", "Lease", true, {}, {}, false),
      builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}, {}, false),
      builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
              false, {"crd", "crds"}, {"api-extensions"}),
      builtin("karpenter.sh", "v1", "nodeclaims", "NodeClaim", false, {}, {"karpenter"}, true,
              true),
  };
  auto pods = std::make_shared<resource_def>(*builtins_[1]);
  pods->log_subresource = true;
  pods->proxy_subresource = true;
  pods->portforward_subresource = true;
  builtins_[1] = pods;
  auto services = std::make_shared<resource_def>(*builtins_[2]);
  services->proxy_subresource = true;
  builtins_[2] = services;
}

std::shared_ptr<const resource_def> def_from_crd(const json& crd) {
  const json* spec = field(crd, "spec");
  if (!spec || !spec->is_object()) return nullptr;
  const json* names = field(*spec, "names");
  if (!names) return nullptr;
  auto d = std::make_shared<resource_def>();
  d->group = str(*spec, "group");
  d->resource = str(*names, "plural");
  d->kind = str(*names, "kind");
  d->singular = str(*names, "singular");
  if (d->group.empty() || d->resource.empty() || d->kind.empty()) return nullptr;
  if (d->singular.empty()) {
    d->singular = d->kind;
    std::transform(d->singular.begin(), d->singular.end(), d->singular.begin(),
                   [](unsigned char c) { return std::tolower(c); });
  }
  d->short_names = strings(field(*names, "shortNames"));
  d->categories = strings(field(*names, "categories"));
  d->namespaced = str(*spec, "scope") != "Cluster";
  d->custom = true;
  d->status_subresource = false;
  const json* versions = field(*spec, "versions");
  if (!versions || !versions->is_array()) return nullptr;
  std::vector<std::string> storage_first;
  for (const auto& v : *versions) {
    std::string name = str(v, "name");
    const json* served = field(v, "served");
    if (name.empty() || (served && served->is_boolean() && !served->get<bool>())) continue;
    if (const json* sub = field(v, "subresources"); sub && field(*sub, "status"))
      d->status_subresource = true;
    std::vector<printer_column> cols;
    if (const json* pc = field(v, "additionalPrinterColumns"); pc && pc->is_array()) {
      for (const auto& c : *pc) {
        printer_column col;
        col.name = str(c, "name");
        col.type = str(c, "type");
        col.format = str(c, "format");
        col.description = str(c, "description");
        col.json_path = str(c, "jsonPath");
        if (const json* p = field(c, "priority"); p && p->is_number_integer())
          col.priority = p->get<int>();
        if (!col.name.empty() && !col.json_path.empty()) cols.push_back(col);
      }
    }
    d->columns[name] = cols;
    if (const json* sch = field(v, "schema"); sch && field(*sch, "openAPIV3Schema"))
      d->schemas[name] = *field(*sch, "openAPIV3Schema");
    d->versions.push_back(name);
  }
  if (d->versions.empty()) return nullptr;
  // Preferred version: kube-version priority (v1 > v1beta1 > v1alpha1), as the real server orders.
  auto rank = [](const std::string& v) {
    int stability = v.find("alpha") != std::string::npos  ? 0
                    : v.find("beta") != std::string::npos ? 1
                                                          : 2;
    return stability;
  };
  std::stable_sort(d->versions.begin(), d->versions.end(),
                   [&](const std::string& a, const std::string& b) {
                     if (rank(a) != rank(b)) return rank(a) > rank(b);
                     return a > b;
                   });
  return d;
}

void registry::set_crds(const std::vector<json>& crds) {
  std::vector<std::shared_ptr<const resource_def>> out;
  for (const auto& c : crds)
    if (auto d = def_from_crd(c)) out.push_back(std::move(d));
  std::unique_lock lock(mu_);
  customs_ = std::move(out);
}

std::shared_ptr<const resource_def> registry::find(const std::string& group,
                                                   const std::string& version,
                                                   const std::string& resource) const {
  std::shared_lock lock(mu_);
  for (const auto* list : {&builtins_, &customs_})
    for (const auto& d : *list)
      if (d->group == group && d->resource == resource && d->serves(version)) return d;
  return nullptr;
}

std::shared_ptr<const resource_def> registry::find_kind(const std::string& group,
                                                        const std::string& kind) const {
  std::shared_lock lock(mu_);
  for (const auto* list : {&builtins_, &customs_})
    for (const auto& d : *list)
      if (d->group == group && d->kind == kind) return d;
  return nullptr;
}

std::vector<std::shared_ptr<const resource_def>> registry::all() const {
  std::shared_lock lock(mu_);
  auto out = builtins_;
  out.insert(out.end(), customs_.begin(), customs_.end());
  return out;
}

}  // namespace kaito::k8s::apiserver
