// What the server serves: the built-in resources (core/v1 pods, services, ...; apps/v1; batch/v1;
// coordination.k8s.io/v1; apiextensions.k8s.io/v1 CRDs) plus one resource per stored
// CustomResourceDefinition (Workspaces once deploy/crds is applied).
//
// A resource_def is everything discovery, OpenAPI, tables and handlers need to know about one
// group/resource. `custom` marks CRD semantics: strategic merge patch answers 415, PUT needs
// metadata.resourceVersion, generation moves on any top-level field except metadata and status.
//
// Thread-safety: registry is safe for concurrent readers; set_crds() swaps in a new table.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kaito::k8s::apiserver {

using json = nlohmann::json;

struct printer_column {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string format;
  std::string description;
  std::string json_path;  // ".resource.instanceType"
  int priority = 0;
};

struct resource_def {
  std::string group;     // "" for core
  std::string resource;  // plural
  std::string kind;
  std::string singular;
  std::vector<std::string> versions;  // served versions, preferred first
  bool namespaced = true;
  bool custom = false;
  bool status_subresource = true;
  bool log_subresource = false;
  bool proxy_subresource = false;        // pods and services: NAME/proxy[/PATH] (service_proxy.cpp)
  bool portforward_subresource = false;  // pods: NAME/portforward (port_forward.cpp)
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::map<std::string, std::vector<printer_column>> columns;  // by version (CRDs)
  std::map<std::string, json> schemas;                         // openAPIV3Schema by version (CRDs)

  std::string store_key() const { return group.empty() ? resource : group + "/" + resource; }
  std::string api_version(const std::string& version) const {
    return group.empty() ? version : group + "/" + version;
  }
  bool serves(const std::string& version) const;
};

class registry {
 public:
  registry();  // the built-ins

  // Replaces the custom resources with those defined by `crds` (CustomResourceDefinition objects).
  // Malformed CRDs are skipped.
  void set_crds(const std::vector<json>& crds);

  std::shared_ptr<const resource_def> find(const std::string& group, const std::string& version,
                                           const std::string& resource) const;
  std::shared_ptr<const resource_def> find_kind(const std::string& group,
                                                const std::string& kind) const;
  std::vector<std::shared_ptr<const resource_def>> all()
      const;  // builtins then customs, stable order

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const resource_def>> builtins_;
  std::vector<std::shared_ptr<const resource_def>> customs_;
};

// Parses one CustomResourceDefinition into a resource_def; null when malformed.
std::shared_ptr<const resource_def> def_from_crd(const json& crd);

}  // namespace kaito::k8s::apiserver
