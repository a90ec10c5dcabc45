// The Job controller; see job_controller.h.
#include "k8s/controllers/job_controller.h"

#include <set>

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

int64_t int_field(const json& obj, const char* key, int64_t dflt) {
  if (!obj.is_object()) return dflt;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : dflt;
}

struct counts {
  int64_t active = 0, ready = 0, succeeded = 0, failed = 0;
};

counts count_pods(const std::vector<json>& pods) {
  counts c;
  for (const auto& p : pods) {
    std::string phase = pod_phase(p);
    if (phase == "Succeeded")
      ++c.succeeded;
    else if (phase == "Failed")
      ++c.failed;
    else if (!deleting(p)) {
      ++c.active;
      if (pod_ready(p)) ++c.ready;
    }
  }
  return c;
}

result<reconcile_result> reconcile_job_impl(const controller_env& env, const std::string& ns,
                                            const std::string& name) {
  reader_ref r(env.reader, env.client);
  auto job_r = r->get(resources::kJobs, ns, name);
  if (!job_r.ok()) return job_r.error();
  if (!*job_r || deleting(**job_r)) return reconcile_result{};
  const json& job = **job_r;
  std::string uid = meta_string(job, "uid");
  auto listed = r->list(resources::kPods, ns, {{{labels::kJobName, name}}, ""});
  if (!listed.ok()) return listed.error();
  std::vector<json> pods;
  std::set<std::string> taken;
  for (auto& p : *listed) {
    taken.insert(meta_string(p, "name"));
    if (owned_by_uid(p, uid)) pods.push_back(std::move(p));
  }
  std::string now = rfc3339(env.clock->now());
  json spec = object_member(job, "spec");
  counts c = count_pods(pods);
  int64_t backoff = int_field(spec, "backoffLimit", kDefaultBackoffLimit);
  bool finished = job_finished(job) || c.succeeded > 0 || c.failed > backoff;
  reconcile_result out;
  std::map<std::string, int> planned;
  if (finished) {
    // A finished Job runs nothing more.
    for (const auto& p : pods) {
      if (pod_terminal(p) || deleting(p)) continue;
      auto d = env.client->remove(resources::kPods, ns, meta_string(p, "name"));
      if (!d.ok() && d.error().code() != status_code::not_found) return d.error();
    }
  } else if (c.active == 0) {
    int i = 0;
    while (taken.count(name + "-" + std::to_string(i))) ++i;
    json tmpl = object_member(spec, "template");
    auto place = choose_node(*r, object_member(tmpl, "spec"), planned);
    if (!place.ok()) return place.error();
    json pod = build_pod(tmpl, ns, name + "-" + std::to_string(i),
                         {{labels::kJobName, name},
                          {labels::kBatchJobName, name},
                          {labels::kControllerUid, uid},
                          {"batch.kubernetes.io/controller-uid", uid}},
                         job, *place, now);
    auto created = env.client->create(resources::kPods, ns, pod);
    if (!created.ok()) {
      if (created.error().code() != status_code::already_exists) return created.error();
      out.requeue_after = std::chrono::milliseconds(500);  // a racing reconcile created it
    } else {
      pods.push_back(std::move(*created));
    }
  } else {
    for (const auto& p : pods) {
      if (pod_terminal(p) || deleting(p)) continue;
      if (!string_field(member(p, "spec"), "nodeName").empty()) continue;
      auto bound = bind_pending_pod(*env.client, *r, p, planned, now);
      if (!bound.ok()) return bound.error();
    }
  }
  for (const auto& p : pods)
    if (!pod_terminal(p) && !deleting(p) && string_field(member(p, "spec"), "nodeName").empty())
      out.requeue_after = std::chrono::seconds(5);
  json st = job_status_from_pods(job, pods, now);
  if (st != job.value("status", json::object())) {
    json next = job;
    next["status"] = st;
    auto u = env.client->update_status(resources::kJobs, ns, next);
    if (!u.ok() && u.error().code() != status_code::not_found) return u.error();
  }
  return out;
}

}  // namespace

bool job_condition_true(const json& job, const std::string& type) {
  if (!job.is_object() || !job.contains("status") || !job["status"].is_object()) return false;
  return condition_status(job["status"].value("conditions", json()), type) == "True";
}

bool job_finished(const json& job) {
  return job_condition_true(job, "Complete") || job_condition_true(job, "Failed");
}

json job_status_from_pods(const json& job, const std::vector<json>& pods, const std::string& now) {
  json st = job.contains("status") && job["status"].is_object() ? job["status"] : json::object();
  counts c = count_pods(pods);
  json spec = object_member(job, "spec");
  int64_t backoff = int_field(spec, "backoffLimit", kDefaultBackoffLimit);
  json conds = st.value("conditions", json::array());
  bool was_complete = job_condition_true(job, "Complete");
  bool was_failed = job_condition_true(job, "Failed");
  if (!was_failed && (was_complete || c.succeeded > 0)) {
    set_condition(conds,
                  {"Complete", "True", reasons::kCompletionsReached,
                   "Reached expected number of succeeded pods"},
                  -1, now);
    if (!st.contains("completionTime")) st["completionTime"] = now;
  } else if (!was_complete && (was_failed || c.failed > backoff)) {
    set_condition(conds,
                  {"Failed", "True", reasons::kBackoffLimitExceeded,
                   "Job has reached the specified backoff limit"},
                  -1, now);
  }
  for (auto& x : conds)
    if (x.is_object() && !x.contains("lastProbeTime")) x["lastProbeTime"] = x["lastTransitionTime"];
  if (!conds.empty()) st["conditions"] = conds;
  bool finished = job_condition_true({{"status", {{"conditions", conds}}}}, "Complete") ||
                  job_condition_true({{"status", {{"conditions", conds}}}}, "Failed");
  auto set_or_erase = [&](const char* key, int64_t v) {
    if (v > 0)
      st[key] = v;
    else
      st.erase(key);
  };
  set_or_erase("active", finished ? 0 : c.active);
  st["ready"] = finished ? 0 : c.ready;
  set_or_erase("succeeded", c.succeeded);
  set_or_erase("failed", c.failed);
  if (!st.contains("startTime") && !pods.empty()) st["startTime"] = now;
  return st;
}

result<reconcile_result> reconcile_job(const controller_env& env, const std::string& ns,
                                       const std::string& name) {
  try {
    return reconcile_job_impl(env, ns, name);
  } catch (const json::exception& e) {
    return internal_error("job " + ns + "/" + name + ": malformed object: " + e.what());
  }
}

}  // namespace kaito::k8s::controllers
