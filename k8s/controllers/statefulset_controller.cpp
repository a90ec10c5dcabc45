// The StatefulSet controller; see statefulset_controller.h.
#include "k8s/controllers/statefulset_controller.h"

#include <cstdio>

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/scheduling.h"
#include "k8s/controllers/wall_time.h"

namespace kaito::k8s::controllers {

namespace {

bool running_ready(const json& pod) {
  return pod_phase(pod) == "Running" && pod_ready(pod);
}

int64_t replicas_of(const json& sts) {
  const json& r = member(member(sts, "spec"), "replicas");
  return r.is_number_integer() ? r.get<int64_t>() : 1;
}

label_map selector_of(const json& sts) {
  label_map out;
  const json& ml = member(member(member(sts, "spec"), "selector"), "matchLabels");
  if (!ml.is_object()) return out;
  for (auto it = ml.begin(); it != ml.end(); ++it)
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  return out;
}

// The ordinal of `<sts>-<i>`, or -1.
int64_t ordinal_of(const std::string& sts, const std::string& pod) {
  if (pod.size() <= sts.size() + 1 || pod.compare(0, sts.size() + 1, sts + "-") != 0) return -1;
  int64_t v = 0;
  for (size_t i = sts.size() + 1; i < pod.size(); ++i) {
    if (pod[i] < '0' || pod[i] > '9' || v > 1000000) return -1;
    v = v * 10 + (pod[i] - '0');
  }
  return v;
}

std::string pod_revision(const json& pod) {
  return string_field(member(member(pod, "metadata"), "labels"), labels::kControllerRevisionHash);
}

result<reconcile_result> reconcile_sts_impl(const controller_env& env, const std::string& ns,
                                            const std::string& name) {
  reader_ref r(env.reader, env.client);
  auto sts_r = r->get(resources::kStatefulSets, ns, name);
  if (!sts_r.ok()) return sts_r.error();
  if (!*sts_r || deleting(**sts_r)) return reconcile_result{};
  const json& sts = **sts_r;
  std::string uid = meta_string(sts, "uid");
  label_map sel = selector_of(sts);
  std::vector<json> pods;
  if (!sel.empty()) {
    auto listed = r->list(resources::kPods, ns, {sel, ""});
    if (!listed.ok()) return listed.error();
    for (auto& p : *listed)
      if (owned_by_uid(p, uid)) pods.push_back(std::move(p));
  }
  int64_t replicas = replicas_of(sts);
  std::string revision = statefulset_revision(sts);
  std::string now = rfc3339(env.clock->now());
  json tmpl = object_member(object_member(sts, "spec"), "template");
  std::map<int64_t, json> by_ordinal;
  reconcile_result out;
  auto remove = [&](const json& p) -> status {
    auto d = env.client->remove(resources::kPods, ns, meta_string(p, "name"));
    if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
    return status();
  };
  std::vector<json> kept;
  for (auto& p : pods) {
    int64_t i = ordinal_of(name, meta_string(p, "name"));
    if (deleting(p)) continue;
    if (i < 0 || i >= replicas || pod_phase(p) == "Failed") {
      KAITO_TRY(remove(p));
      if (i >= 0 && i < replicas) out.requeue_after = std::chrono::seconds(1);
      continue;
    }
    by_ordinal[i] = p;
    kept.push_back(p);
  }
  std::map<std::string, int> planned;
  bool all_present = true;
  for (int64_t i = 0; i < replicas; ++i) {
    if (by_ordinal.count(i)) continue;
    all_present = false;
    std::string pod_name = name + "-" + std::to_string(i);
    auto place = choose_node(*r, object_member(tmpl, "spec"), planned);
    if (!place.ok()) return place.error();
    json pod = build_pod(tmpl, ns, pod_name,
                         {{labels::kStsPodName, pod_name},
                          {labels::kPodIndex, std::to_string(i)},
                          {labels::kControllerRevisionHash, revision}},
                         sts, *place, now);
    pod["spec"]["hostname"] = pod_name;
    std::string svc = string_field(member(sts, "spec"), "serviceName");
    if (!svc.empty()) pod["spec"]["subdomain"] = svc;
    auto created = env.client->create(resources::kPods, ns, pod);
    if (!created.ok()) {
      if (created.error().code() != status_code::already_exists) return created.error();
      out.requeue_after = std::chrono::milliseconds(500);
    } else {
      kept.push_back(std::move(*created));
    }
  }
  for (const auto& p : kept) {
    if (pod_terminal(p) || !string_field(member(p, "spec"), "nodeName").empty()) continue;
    auto bound = bind_pending_pod(*env.client, *r, p, planned, now);
    if (!bound.ok()) return bound.error();
    if (!*bound) out.requeue_after = std::chrono::seconds(5);
  }
  if (all_present) {
    for (auto it = by_ordinal.rbegin(); it != by_ordinal.rend(); ++it) {
      if (pod_revision(it->second) == revision) continue;
      KAITO_TRY(remove(it->second));
      out.requeue_after = std::chrono::seconds(1);
      kept.erase(std::remove_if(kept.begin(), kept.end(),
                                [&](const json& p) {
                                  return meta_string(p, "name") == meta_string(it->second, "name");
                                }),
                 kept.end());
      break;
    }
  }
  json st = statefulset_status_from_pods(sts, kept);
  if (st != sts.value("status", json::object())) {
    json next = sts;
    next["status"] = st;
    auto u = env.client->update_status(resources::kStatefulSets, ns, next);
    if (!u.ok() && u.error().code() != status_code::not_found) return u.error();
  }
  return out;
}

}  // namespace

std::string statefulset_revision(const json& sts) {
  json tmpl = object_member(object_member(sts, "spec"), "template");
  std::string text = tmpl.dump();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return meta_string(sts, "name") + "-" + std::string(hex).substr(0, 10);
}

json statefulset_status_from_pods(const json& sts, const std::vector<json>& pods) {
  std::string revision = statefulset_revision(sts);
  int64_t replicas = 0, ready = 0, updated = 0;
  for (const auto& p : pods) {
    if (deleting(p) || pod_terminal(p)) continue;
    ++replicas;
    if (running_ready(p)) ++ready;
    if (pod_revision(p) == revision) ++updated;
  }
  json st = sts.contains("status") && sts["status"].is_object() ? sts["status"] : json::object();
  const json& gen = member(member(sts, "metadata"), "generation");
  if (gen.is_number_integer()) st["observedGeneration"] = gen;
  st["replicas"] = replicas;
  st["readyReplicas"] = ready;
  st["availableReplicas"] = ready;
  st["updatedReplicas"] = updated;
  st["updateRevision"] = revision;
  if (updated == replicas_of(sts) || !st.contains("currentRevision"))
    st["currentRevision"] = revision;
  st["currentReplicas"] = st["currentRevision"] == revision ? updated : replicas - updated;
  st["collisionCount"] = 0;
  return st;
}

result<reconcile_result> reconcile_statefulset(const controller_env& env, const std::string& ns,
                                               const std::string& name) {
  try {
    return reconcile_sts_impl(env, ns, name);
  } catch (const json::exception& e) {
    return internal_error("statefulset " + ns + "/" + name + ": malformed object: " + e.what());
  }
}

}  // namespace kaito::k8s::controllers
