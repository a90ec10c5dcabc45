// A Service's EndpointSlices; see endpoint_slices.h.
#include "k8s/controllers/endpoint_slices.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "k8s/client/api_error.h"
#include "k8s/controllers/endpoints_controller.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/nodes.h"

namespace kaito::k8s::controllers {

namespace {

constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
constexpr const char* kManagedByLabel = "endpointslice.kubernetes.io/managed-by";

std::string short_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(hex, 8);
}

json slice_endpoint(const json& pod, bool publish_not_ready) {
  const bool ready = pod_ready(pod);
  json e = pod_endpoint_refs(pod);
  e["addresses"] = json::array({string_field(member(pod, "status"), "podIP")});
  e["conditions"] = {
      {"ready", ready || publish_not_ready}, {"serving", ready}, {"terminating", deleting(pod)}};
  return e;
}

json slice_labels(const json& service) {
  json labels = object_member(member(service, "metadata"), "labels");
  labels[kServiceNameLabel] = meta_string(service, "name");
  labels[kManagedByLabel] = kKaitoSliceManager;
  if (string_field(member(service, "spec"), "clusterIP") == "None")
    labels["service.kubernetes.io/headless"] = "";
  return labels;
}

bool same_slice(const json& have, const json& want) {
  return member(have, "endpoints") == member(want, "endpoints") &&
         member(have, "ports") == member(want, "ports") &&
         object_member(member(have, "metadata"), "labels") == want["metadata"]["labels"];
}

}  // namespace

std::vector<json> desired_endpoint_slices(const json& service, const std::vector<json>& pods) {
  const bool publish_not_ready =
      member(member(service, "spec"), "publishNotReadyAddresses") == json(true);
  const std::string name = meta_string(service, "name");
  std::map<std::string, json> by_ports;
  for (const auto& pod : pods) {
    if (!pod_in_endpoints(pod, true)) continue;
    json ports = pod_endpoint_ports(service, pod);
    if (ports.is_null()) continue;
    const std::string key = ports.dump();
    json& slice = by_ports[key];
    if (slice.is_null()) {
      json owner = {{"apiVersion", "v1"}, {"kind", "Service"},
                    {"name", name},       {"uid", meta_string(service, "uid")},
                    {"controller", true}, {"blockOwnerDeletion", true}};
      slice = {{"apiVersion", "discovery.k8s.io/v1"},
               {"kind", "EndpointSlice"},
               {"metadata",
                {{"name", name + "-" + short_hash(key)},
                 {"namespace", meta_string(service, "namespace")},
                 {"labels", slice_labels(service)},
                 {"ownerReferences", json::array({owner})}}},
               {"addressType", "IPv4"},
               {"endpoints", json::array()},
               {"ports", ports}};
    }
    slice["endpoints"].push_back(slice_endpoint(pod, publish_not_ready));
  }
  std::vector<json> out;
  for (auto& [key, slice] : by_ports) {
    std::sort(slice["endpoints"].begin(), slice["endpoints"].end(),
              [](const json& a, const json& b) {
                return a["targetRef"]["name"].get<std::string>() <
                       b["targetRef"]["name"].get<std::string>();
              });
    out.push_back(std::move(slice));
  }
  return out;
}

status converge_endpoint_slices(const controller_env& env, object_reader& reader,
                                const std::string& ns, const std::string& service_name,
                                const std::vector<json>& desired) {
  auto have = reader.list(resources::kEndpointSlices, ns,
                          list_query{{{kServiceNameLabel, service_name}}, ""});
  if (!have.ok()) return have.error();
  std::map<std::string, const json*> want;
  for (const auto& s : desired) want[s["metadata"]["name"].get<std::string>()] = &s;
  for (const auto& s : *have) {
    const std::string name = meta_string(s, "name");
    auto it = want.find(name);
    if (it == want.end()) {
      if (string_field(member(member(s, "metadata"), "labels"), kManagedByLabel) !=
          kKaitoSliceManager)
        continue;  // another controller's slice
      auto d = env.client->remove(resources::kEndpointSlices, ns, name);
      if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
      continue;
    }
    const json& w = *it->second;
    want.erase(it);
    if (same_slice(s, w)) continue;
    json next = s;
    next["endpoints"] = w["endpoints"];
    next["ports"] = w["ports"];
    next["metadata"]["labels"] = w["metadata"]["labels"];
    auto u = env.client->update(resources::kEndpointSlices, ns, next);
    if (!u.ok() && u.error().code() != status_code::not_found) return u.error();
  }
  for (const auto& [name, s] : want) {
    auto c = env.client->create(resources::kEndpointSlices, ns, *s);
    if (!c.ok() && c.error().code() != status_code::already_exists) return c.error();
  }
  return {};
}

}  // namespace kaito::k8s::controllers
