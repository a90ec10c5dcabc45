// Server-managed metadata; see object_meta.h.
#include "k8s/apiserver/object_meta.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>

#include "k8s/apiserver/errors.h"
#include "k8s/apiserver/pki.h"
#include "k8s/apiserver/tables.h"
#include "k8s/client/base64.h"

namespace kaito::k8s::apiserver {

namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 g{std::random_device{}()};
  return g;
}

// Everything a generation bump looks at: the object without metadata (and status when it is a
// subresource).
json spec_view(const resource_def& def, const json& obj) {
  json v = obj.is_object() ? obj : json::object();
  v.erase("metadata");
  v.erase("apiVersion");
  v.erase("kind");
  if (def.status_subresource) v.erase("status");
  return v;
}

const json& meta_field(const json& obj, const char* name) {
  static const json null_json;
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object())
    return null_json;
  auto it = obj["metadata"].find(name);
  return it == obj["metadata"].end() ? null_json : *it;
}

// Defaults the real server's built-in registries apply on every write.
void builtin_defaults(const resource_def& def, json& obj) {
  if (!def.group.empty() || !obj.is_object()) return;
  if (def.resource == "secrets") {
    if (!obj.contains("type") || !obj["type"].is_string() || obj["type"].get<std::string>().empty())
      obj["type"] = "Opaque";
    if (obj.contains("stringData") && obj["stringData"].is_object()) {
      for (auto it = obj["stringData"].begin(); it != obj["stringData"].end(); ++it)
        if (it->is_string()) obj["data"][it.key()] = base64_encode(it->get<std::string>());
      obj.erase("stringData");
    }
  } else if (def.resource == "namespaces") {
    if (!obj.contains("status") || !obj["status"].is_object())
      obj["status"] = {{"phase", "Active"}};
  } else if (def.resource == "services") {
    if (!obj.contains("spec") || !obj["spec"].is_object()) return;
    json& spec = obj["spec"];
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
    if (spec.contains("ports") && spec["ports"].is_array())
      for (auto& p : spec["ports"]) {  // SetDefaults_Service
        if (!p.is_object()) continue;
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        const json& t = p.value("targetPort", json());
        bool unset = t.is_null() || t == json(0) || t == json("");
        if (unset && p.contains("port")) p["targetPort"] = p["port"];
      }
  } else if (def.resource == "pods") {
    if (!obj.contains("status") || !obj["status"].is_object())
      obj["status"] = {{"phase", "Pending"}};
  } else if (def.resource == "endpoints" && obj.contains("subsets") && obj["subsets"].is_array()) {
    for (auto& ss : obj["subsets"])  // SetDefaults_EndpointPort: protocol TCP
      if (ss.is_object() && ss.contains("ports") && ss["ports"].is_array())
        for (auto& p : ss["ports"])
          if (p.is_object() && !p.contains("protocol")) p["protocol"] = "TCP";
  }
}

}  // namespace

std::string new_uid() {
  uint64_t a = rng()(), b = rng()();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

std::string now_rfc3339() {
  return format_rfc3339(std::time(nullptr));
}

bool is_dns_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(label.front()) || !alnum(label.back())) return false;
    for (char c : label)
      if (!alnum(c) && c != '-') return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::optional<api_response> check_identity(const resource_def& def, const std::string& version,
                                           const std::string& url_ns, const std::string& url_name,
                                           const json& obj) {
  if (!obj.is_object()) return bad_request("the body of the request must be a JSON object");
  auto str = [&](const char* k) -> std::string {
    auto it = obj.find(k);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string kind = str("kind"), api_version = str("apiVersion");
  if (!kind.empty() && kind != def.kind)
    return bad_request(kind + " in version \"" + version + "\" cannot be handled as a " + def.kind +
                       ": the kind in the body does not match the resource");
  if (!api_version.empty() && api_version != def.api_version(version) &&
      !(def.custom && api_version.rfind(def.group + "/", 0) == 0 &&
        def.serves(api_version.substr(def.group.size() + 1))))
    return bad_request("the API version in the data (" + api_version +
                       ") does not match the expected API version (" + def.api_version(version) +
                       ")");
  if (obj.contains("metadata") && !obj["metadata"].is_object())
    return bad_request(def.kind + " in version \"" + version + "\" cannot be handled as a " +
                       def.kind + ": metadata must be an object");
  const json& ns = meta_field(obj, "namespace");
  if (def.namespaced && ns.is_string() && !ns.get<std::string>().empty() &&
      ns.get<std::string>() != url_ns)
    return bad_request(
        "the namespace of the provided object does not match the namespace sent on the request");
  const json& name = meta_field(obj, "name");
  const json& gen = meta_field(obj, "generateName");
  std::string n = name.is_string() ? name.get<std::string>() : "";
  if (!url_name.empty() && !n.empty() && n != url_name)
    return bad_request("the name of the object (" + n + ") does not match the name on the URL (" +
                       url_name + ")");
  if (url_name.empty() && n.empty() && !(gen.is_string() && !gen.get<std::string>().empty()))
    return invalid_error(def.group, def.kind, "", "metadata.name", "FieldValueRequired",
                         "Required value: name or generateName is required");
  if (!n.empty() && !is_dns_subdomain(n))
    return invalid_error(
        def.group, def.kind, n, "metadata.name", "FieldValueInvalid",
        "Invalid value: \"" + n +
            "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character");
  return std::nullopt;
}

void prepare_create(const resource_def& def, const std::string& version, const std::string& ns,
                    json& obj) {
  json& m = obj["metadata"];
  if (!m.contains("name") || !m["name"].is_string() || m["name"].get<std::string>().empty()) {
    static const char* kAlnum = "bcdfghjklmnpqrstvwxz2456789";
    std::string suffix;
    for (int i = 0; i < 5; ++i) suffix += kAlnum[rng()() % 27];
    m["name"] = m.value("generateName", std::string()) + suffix;
  }
  if (def.namespaced)
    m["namespace"] = ns;
  else
    m.erase("namespace");
  m["uid"] = new_uid();
  m["creationTimestamp"] = now_rfc3339();
  m["generation"] = 1;
  m.erase("resourceVersion");
  m.erase("deletionTimestamp");
  m.erase("deletionGracePeriodSeconds");
  m.erase("selfLink");
  m.erase("managedFields");
  obj["apiVersion"] = def.api_version(version);
  obj["kind"] = def.kind;
  if (def.status_subresource && def.custom) obj.erase("status");
  if (obj.contains("status") && obj["status"].is_null()) obj.erase("status");
  builtin_defaults(def, obj);
}

result<json> prepare_update(const resource_def& def, const std::string& version, const json& live,
                            json incoming, bool status_write) {
  json out;
  if (status_write) {
    out = live;
    if (incoming.contains("status"))
      out["status"] = incoming["status"];
    else
      out.erase("status");
  } else {
    out = std::move(incoming);
    if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = json::object();
    if (def.status_subresource) {
      if (live.contains("status"))
        out["status"] = live["status"];
      else
        out.erase("status");
    }
  }
  json& m = out["metadata"];
  const json& lm = live["metadata"];
  for (const char* k : {"uid", "name", "namespace", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation"}) {
    if (lm.contains(k))
      m[k] = lm[k];
    else
      m.erase(k);
  }
  m.erase("managedFields");
  if (lm.contains("deletionTimestamp") && m.contains("finalizers") && m["finalizers"].is_array()) {
    json old = lm.contains("finalizers") ? lm["finalizers"] : json::array();
    for (const auto& f : m["finalizers"])
      if (std::find(old.begin(), old.end(), f) == old.end())
        return status(
            status_code::failed_precondition,
            "Forbidden: no new finalizers can be added if the object is being deleted, found new "
            "finalizers [" +
                (f.is_string() ? f.get<std::string>()
                               : f.dump(-1, ' ', false, json::error_handler_t::replace)) +
                "]",
            "metadata.finalizers");
  }
  out["apiVersion"] = def.api_version(version);
  out["kind"] = def.kind;
  if (out.contains("status") && out["status"].is_null()) out.erase("status");
  builtin_defaults(def, out);
  if (!status_write && spec_view(def, out) != spec_view(def, live)) {
    int64_t g = lm.contains("generation") && lm["generation"].is_number_integer()
                    ? lm["generation"].get<int64_t>()
                    : 0;
    m["generation"] = g + 1;
  }
  return out;
}

}  // namespace kaito::k8s::apiserver
