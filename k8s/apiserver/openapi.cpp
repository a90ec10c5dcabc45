// OpenAPI v3 documents; see openapi.h.
#include "k8s/apiserver/openapi.h"

#include "k8s/apiserver/errors.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <set>

namespace kaito::k8s::apiserver {

namespace {

// "kaito.sh" -> "sh.kaito"; core -> "io.k8s.api.core".
std::string schema_prefix(const std::string& group) {
  if (group.empty()) return "io.k8s.api.core";
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = group.find('.', start);
    parts.push_back(group.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
  return out;
}

json param(const char* name, const char* type) {
  return {{"name", name}, {"in", "query"}, {"schema", {{"type", type}}}, {"uniqueItems", true}};
}

json operation(const resource_def& d, const std::string& version, const std::string& action,
               const std::string& op_id, bool write) {
  json params = json::array();
  if (write) {
    params.push_back(param("dryRun", "string"));
    params.push_back(param("fieldManager", "string"));
    params.push_back(param("fieldValidation", "string"));
    if (action == "patch") params.push_back(param("force", "boolean"));
  }
  json op = {{"operationId", op_id},
             {"x-kubernetes-action", action},
             {"x-kubernetes-group-version-kind",
              {{"group", d.group}, {"version", version}, {"kind", d.kind}}},
             {"parameters", params},
             {"responses", {{"200", {{"description", "OK"}}}}}};
  return op;
}

json object_meta_schema() {
  json str = {{"type", "string"}};
  json map = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  return {{"type", "object"},
          {"properties",
           {{"name", str},
            {"generateName", str},
            {"namespace", str},
            {"uid", str},
            {"resourceVersion", str},
            {"generation", {{"type", "integer"}, {"format", "int64"}}},
            {"creationTimestamp", {{"type", "string"}, {"format", "date-time"}}},
            {"deletionTimestamp", {{"type", "string"}, {"format", "date-time"}}},
            {"labels", map},
            {"annotations", map},
            {"finalizers", {{"type", "array"}, {"items", str}}},
            {"ownerReferences",
             {{"type", "array"},
              {"items", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}};
}

json kind_schema(const resource_def& d, const std::string& version) {
  json s;
  if (auto it = d.schemas.find(version); it != d.schemas.end() && it->second.is_object()) {
    s = it->second;
  } else {
    s = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  }
  s["x-kubernetes-group-version-kind"] =
      json::array({{{"group", d.group}, {"kind", d.kind}, {"version", version}}});
  s["properties"]["apiVersion"] = {{"type", "string"}};
  s["properties"]["kind"] = {{"type", "string"}};
  s["properties"]["metadata"] = {
      {"allOf",
       json::array(
           {{{"$ref", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}})}};
  return s;
}

json document(const registry& reg, const std::string& group, const std::string& version) {
  json paths = json::object();
  json schemas = json::object();
  std::string base = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  for (const auto& d : reg.all()) {
    if (d->group != group || !d->serves(version)) continue;
    std::string coll = base + (d->namespaced ? "/namespaces/{namespace}/" : "/") + d->resource;
    std::string ref =
        "#/components/schemas/" + schema_prefix(group) + "." + version + "." + d->kind;
    json body = {{"content", {{"application/json", {{"schema", {{"$ref", ref}}}}}}}};
    json post = operation(*d, version, "post", "create" + d->kind, true);
    post["requestBody"] = body;
    paths[coll] = {{"get", operation(*d, version, "list", "list" + d->kind, false)},
                   {"post", post}};
    json put = operation(*d, version, "put", "replace" + d->kind, true);
    put["requestBody"] = body;
    json item = {{"get", operation(*d, version, "get", "read" + d->kind, false)},
                 {"put", put},
                 {"patch", operation(*d, version, "patch", "patch" + d->kind, true)},
                 {"delete", operation(*d, version, "delete", "delete" + d->kind, false)}};
    paths[coll + "/{name}"] = item;
    if (d->status_subresource) {
      json st = {{"get", operation(*d, version, "get", "read" + d->kind + "Status", false)},
                 {"put", operation(*d, version, "put", "replace" + d->kind + "Status", true)},
                 {"patch", operation(*d, version, "patch", "patch" + d->kind + "Status", true)}};
      paths[coll + "/{name}/status"] = st;
    }
    schemas[schema_prefix(group) + "." + version + "." + d->kind] = kind_schema(*d, version);
  }
  if (paths.empty()) return nullptr;
  schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = object_meta_schema();
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

std::string hash_hex(const std::string& s) {
  uint64_t h1 = 1469598103934665603ull, h2 = 0x9E3779B97F4A7C15ull;
  for (unsigned char c : s) {
    h1 = (h1 ^ c) * 1099511628211ull;
    h2 = (h2 ^ c) * 0x100000001B3ull + 0x7F4A7C15ull;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llX%016llX", static_cast<unsigned long long>(h1),
                static_cast<unsigned long long>(h2));
  return buf;
}

}  // namespace

api_response openapi_index(const registry& reg) {
  std::set<std::pair<std::string, std::string>> gvs;
  for (const auto& d : reg.all())
    for (const auto& v : d->versions) gvs.insert({d->group, v});
  json paths = json::object();
  for (const auto& [g, v] : gvs) {
    std::string key = g.empty() ? "api/" + v : "apis/" + g + "/" + v;
    json doc = document(reg, g, v);
    paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash_hex(to_wire(doc))}};
  }
  return api_response::json_body(200, {{"paths", paths}});
}

api_response openapi_group_version(const registry& reg, const std::string& group,
                                   const std::string& version) {
  json doc = document(reg, group, version);
  if (doc.is_null()) {
    return path_not_found();
  }
  return api_response::json_body(200, doc);
}

}  // namespace kaito::k8s::apiserver
