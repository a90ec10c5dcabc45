// Patch types; see patch.h.
#include "k8s/apiserver/patch.h"

#include <algorithm>

namespace kaito::k8s::apiserver {

namespace {

// The merge key of a list field in the built-in types (patchMergeKey in the Go structs).
std::string merge_key(const std::string& field, const json& sample) {
  if (field == "containers" || field == "initContainers" || field == "ephemeralContainers" ||
      field == "volumes" || field == "env" || field == "imagePullSecrets" ||
      field == "volumeClaimTemplates")
    return "name";
  if (field == "volumeMounts") return "mountPath";
  if (field == "volumeDevices") return "devicePath";
  if (field == "conditions") return "type";
  if (field == "ownerReferences") return "uid";
  if (field == "hostAliases") return "ip";
  if (field == "ports")
    return sample.is_object() && sample.contains("containerPort") ? "containerPort" : "port";
  return "";
}

bool primitive_merge_list(const std::string& field) {
  return field == "finalizers";
}

bool same_key(const json& a, const json& b, const std::string& key) {
  return a.is_object() && b.is_object() && a.contains(key) && b.contains(key) && a[key] == b[key];
}

json strip_directives(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.key().empty() && it.key()[0] == '$') continue;
      out[it.key()] = strip_directives(*it);
    }
    return out;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const auto& e : j) out.push_back(strip_directives(e));
    return out;
  }
  return j;
}

json smp(json orig, const json& patch, bool allow_delete);

json merge_list(const std::string& field, json orig, const json& patch, bool allow_delete) {
  if (!orig.is_array()) orig = json::array();
  if (primitive_merge_list(field)) {
    for (const auto& e : patch)
      if (std::find(orig.begin(), orig.end(), e) == orig.end()) orig.push_back(e);
    return orig;
  }
  std::string key = patch.empty() ? "" : merge_key(field, patch[0]);
  if (key.empty()) return strip_directives(patch);
  for (const auto& p : patch) {
    if (!p.is_object()) return strip_directives(patch);
    auto it =
        std::find_if(orig.begin(), orig.end(), [&](const json& o) { return same_key(o, p, key); });
    bool del = p.contains("$patch") && p["$patch"] == "delete";
    if (del) {
      if (it != orig.end()) orig.erase(it);
    } else if (it != orig.end()) {
      *it = smp(*it, p, allow_delete);
    } else {
      orig.push_back(strip_directives(p));
    }
  }
  return orig;
}

json smp(json orig, const json& patch, bool allow_delete) {
  if (!patch.is_object()) return strip_directives(patch);
  if (!orig.is_object()) orig = json::object();
  if (auto d = patch.find("$patch"); d != patch.end() && *d == "replace")
    return strip_directives(patch);
  if (auto rk = patch.find("$retainKeys"); rk != patch.end() && rk->is_array()) {
    for (auto it = orig.begin(); it != orig.end();) {
      if (std::find(rk->begin(), rk->end(), json(it.key())) == rk->end())
        it = orig.erase(it);
      else
        ++it;
    }
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    static const std::string kDelPrim = "$deleteFromPrimitiveList/";
    if (k.rfind(kDelPrim, 0) == 0) {
      std::string f = k.substr(kDelPrim.size());
      if (orig.contains(f) && orig[f].is_array() && it->is_array()) {
        json kept = json::array();
        for (const auto& e : orig[f])
          if (std::find(it->begin(), it->end(), e) == it->end()) kept.push_back(e);
        orig[f] = kept;
      }
      continue;
    }
    if (!k.empty() && k[0] == '$') continue;
    if (it->is_null()) {
      if (allow_delete) orig.erase(k);
      continue;
    }
    if (it->is_object()) {
      if (it->contains("$patch") && (*it)["$patch"] == "delete") {
        orig.erase(k);
        continue;
      }
      orig[k] = smp(orig.contains(k) ? orig[k] : json(), *it, allow_delete);
    } else if (it->is_array()) {
      orig[k] = merge_list(k, orig.contains(k) ? orig[k] : json(), *it, allow_delete);
    } else {
      orig[k] = *it;
    }
  }
  return orig;
}

std::string lower_media(const std::string& ct) {
  std::string t = ct.substr(0, ct.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  return t;
}

}  // namespace

patch_type patch_type_of(const std::string& content_type) {
  std::string t = lower_media(content_type);
  if (t == "application/merge-patch+json") return patch_type::merge;
  if (t == "application/json-patch+json") return patch_type::json_patch;
  if (t == "application/strategic-merge-patch+json") return patch_type::strategic;
  if (t == "application/apply-patch+yaml" || t == "application/apply-patch+cbor")
    return patch_type::apply;
  return patch_type::unknown;
}

result<json> apply_merge_patch(const json& target, const json& patch) {
  json out = target;
  out.merge_patch(patch);
  return out;
}

result<json> apply_json_patch(const json& target, const json& patch) {
  if (!patch.is_array()) return invalid_argument("json patch must be an array of operations");
  try {
    return target.patch(patch);
  } catch (const json::exception& e) {
    return invalid_argument(
        std::string("the server rejected our request due to an error in our request: ") + e.what());
  }
}

result<json> apply_strategic_merge_patch(const json& target, const json& patch) {
  if (!patch.is_object()) return invalid_argument("strategic merge patch must be a JSON object");
  return smp(target, patch, true);
}

result<json> apply_server_side(const json& live, const json& applied) {
  if (!applied.is_object()) return invalid_argument("apply configuration must be an object");
  return smp(live, applied, false);
}

}  // namespace kaito::k8s::apiserver
