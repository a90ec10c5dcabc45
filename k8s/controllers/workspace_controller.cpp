// The Workspace reconciler; see workspace_controller.h.
#include "k8s/controllers/workspace_controller.h"

#include <optional>

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/events.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/scheduling.h"
#include "k8s/controllers/wall_time.h"
#include "k8s/controllers/workspace_status.h"
#include "k8s/controllers/workspace_steps.h"
#include "protocol/api/workspace_types.h"

namespace kaito::k8s::controllers {

namespace {

using std::chrono::milliseconds;

json finalizers_of(const json& ws) {
  if (!ws.is_object() || !ws.contains("metadata") || !ws["metadata"].is_object())
    return json::array();
  json f = ws["metadata"].value("finalizers", json::array());
  return f.is_array() ? f : json::array();
}

bool has_finalizer(const json& ws) {
  for (const auto& f : finalizers_of(ws))
    if (f == kFinalizer) return true;
  return false;
}

json status_of(const json& obj) {
  return obj.contains("status") && obj["status"].is_object() ? obj["status"] : json::object();
}

bool is_waiting_reason(const std::string& r) {
  auto ends_with = [&](const char* suffix) {
    std::string x(suffix);
    return r.size() >= x.size() && r.compare(r.size() - x.size(), x.size(), x) == 0;
  };
  return ends_with("Pending") || ends_with("NotReady") || ends_with("pending");
}

// Writes `st` as the Workspace's status when it differs, and records one Event per condition
// whose status flipped to True or False.
status write_status(const controller_env& env, json& ws, const json& st) {
  json old = status_of(ws);
  if (old == st) return status();
  json next = ws;
  next["status"] = st;
  auto u = env.client->update_status(resources::kWorkspaces, meta_string(ws, "namespace"), next);
  if (!u.ok()) return u.error();
  if (env.events) {
    json old_conds = old.value("conditions", json::array());
    for (const auto& c : st.value("conditions", json::array())) {
      std::string type = string_field(c, "type"), s = string_field(c, "status");
      std::string was = condition_status(old_conds, type);
      if (s == "Unknown" || was == s) continue;
      // A first verdict of "still waiting" is not news: only ResourceReady (whose message says
      // what is missing) reports it. Flips to True, regressions and failures always do.
      if (s == "False" && (was.empty() || was == "Unknown") && type != "ResourceReady" &&
          is_waiting_reason(string_field(c, "reason")))
        continue;
      (void)env.events->record(*u, s == "True" ? event_type::normal : event_type::warning,
                               string_field(c, "reason"), string_field(c, "message"));
    }
  }
  ws = std::move(*u);
  return status();
}

status delete_child(const controller_env& env, const resource_ref& r, const std::string& ns,
                    const std::string& name, const char* propagation) {
  delete_options o;
  o.propagation_policy = propagation;
  auto d = env.client->remove(r, ns, name, o);
  return d.ok() || d.error().code() == status_code::not_found ? status() : d.error();
}

// Removes workspace.finalizer.kaito.sh (under the Workspace's resourceVersion).
status remove_finalizer(const controller_env& env, const json& ws) {
  json keep = json::array();
  for (const auto& x : finalizers_of(ws))
    if (x != kFinalizer) keep.push_back(x);
  json patch = {{"metadata",
                 {{"resourceVersion", meta_string(ws, "resourceVersion")}, {"finalizers", keep}}}};
  auto p = env.client->patch(resources::kWorkspaces, meta_string(ws, "namespace"),
                             meta_string(ws, "name"), patch_type::merge, patch);
  return p.ok() || p.error().code() == status_code::not_found ? status() : p.error();
}

result<reconcile_result> finalize(const controller_env& env, object_reader& r, json& ws,
                                  const workspace_facts& f) {
  if (!has_finalizer(ws)) return reconcile_result{};
  json st = status_of(ws);
  json conds = st.value("conditions", json::array());
  set_condition(conds,
                {api::condition_types::kWorkspaceDeleting, "True", reasons::kDeleted,
                 "workspace is being deleted"},
                f.generation, rfc3339(env.clock->now()));
  st["conditions"] = conds;
  KAITO_TRY(write_status(env, ws, st));
  KAITO_TRY(delete_child(env, resources::kJobs, f.ns, f.name, "Foreground"));
  KAITO_TRY(delete_child(env, resources::kStatefulSets, f.ns, f.name, "Foreground"));
  KAITO_TRY(delete_child(env, resources::kServices, f.ns, f.name, "Background"));
  KAITO_TRY(delete_child(env, resources::kServices, f.ns, f.name + "-headless", "Background"));
  KAITO_TRY(release_all_nodes(env, r, ws, f));
  KAITO_TRY(remove_finalizer(env, ws));
  return reconcile_result{};
}

// Gets an object we create by a deterministic name; creates it from `want` when absent.
result<json> ensure(const controller_env& env, object_reader& r, const resource_ref& ref,
                    const std::string& ns, const json& want) {
  auto got = r.get(ref, ns, meta_string(want, "name"));
  if (!got.ok()) return got.error();
  if (*got) return std::move(**got);
  auto c = env.client->create(ref, ns, want);
  if (c.ok() || c.error().code() != status_code::already_exists) return c;
  return env.client->get(ref, ns, meta_string(want, "name"));
}

// An empty tuning.config means the method's default template, which Kaito copies from its release
// namespace into the Workspace's for the Job to mount; one already there (copied before, or the
// user's own) is used as it is. A template missing from the release namespace is an error naming
// tuning.config (`kaito up` and the Helm chart install both).
status ensure_tuning_config(const controller_env& env, object_reader& r, const json& ws,
                            const workspace_facts& f) {
  if (!string_field(member(ws, "tuning"), "config").empty() || f.ns == env.release_namespace)
    return {};
  const std::string name = tuning_config_name(ws);
  auto have = r.get(resources::kConfigMaps, f.ns, name);
  if (!have.ok()) return have.error();
  if (*have) return {};
  auto tmpl = r.get(resources::kConfigMaps, env.release_namespace, name);
  if (!tmpl.ok()) return tmpl.error();
  if (!*tmpl)
    return status(status_code::failed_precondition,
                  "the default ConfigMap " + name + " is not in the release namespace " +
                      env.release_namespace,
                  "tuning.config");
  auto c = env.client->create(resources::kConfigMaps, f.ns, default_tuning_config_copy(**tmpl, f));
  if (!c.ok() && c.error().code() != status_code::already_exists) return c.error();
  return {};
}

std::string revision_annotation(const json& obj) {
  const json& m = obj["metadata"];
  if (!m.is_object() || !m.contains("annotations") || !m["annotations"].is_object()) return "";
  return string_field(m["annotations"], annotations::kRevision);
}

result<reconcile_result> reconcile_impl(const controller_env& env, const std::string& ns,
                                        const std::string& name) {
  reader_ref r(env.reader, env.client);
  auto got = r->get(resources::kWorkspaces, ns, name);
  if (!got.ok()) return got.error();
  if (!*got) return reconcile_result{};
  json ws = std::move(**got);
  auto facts = read_workspace_facts(ws, env.presets);
  if (!facts.ok()) {
    // An unreadable Workspace that is being deleted must still go: drop our finalizer.
    if (!meta_string(ws, "deletionTimestamp").empty() && has_finalizer(ws))
      KAITO_TRY(remove_finalizer(env, ws));
    return facts.error();
  }
  const workspace_facts& f = *facts;
  if (f.deleting) return finalize(env, *r, ws, f);
  std::string now = rfc3339(env.clock->now());
  // The finalizer goes in with the revision annotations: one patch (under resourceVersion).
  std::optional<json> fins;
  if (!has_finalizer(ws)) {
    fins = finalizers_of(ws);
    fins->push_back(kFinalizer);
  }
  auto revision = sync_revision(env, *r, ws, fins ? &*fins : nullptr);
  if (!revision.ok()) return revision.error();
  std::string rev = std::to_string(*revision);
  json old_status = status_of(ws);
  if (!old_status.contains("conditions") || !old_status["conditions"].is_array() ||
      old_status["conditions"].empty()) {
    workspace_observation first;
    first.first_visit = true;
    KAITO_TRY(write_status(env, ws, compute_workspace_status(f, old_status, first, now)));
    return reconcile_result{milliseconds(1)};
  }

  workspace_observation obs;
  reconcile_result out;
  std::optional<json> job;
  if (f.tuning) {
    auto j = r->get(resources::kJobs, ns, name);
    if (!j.ok()) return j.error();
    job = std::move(*j);
    if (job && !owned_by_uid(*job, f.uid))
      return status(status_code::failed_precondition,
                    "Job " + ns + "/" + name + " exists and is not owned by the Workspace");
  }
  bool frozen = job && job_finished(*job) && revision_annotation(*job) == rev;
  auto claims = provision_nodes(env, *r, ws, f, frozen);
  if (!claims.ok()) return claims.error();
  obs.claimed_nodes = claims->claimed;
  obs.ready_claimed = claims->ready;
  obs.free_matching = claims->free_matching;
  bool resource_ready = claims->ready >= f.target_node_count;
  if (claims->raced) out.requeue_after = milliseconds(200);
  if (!resource_ready && !frozen) out.requeue_after = std::chrono::seconds(2);

  if (f.tuning) {
    auto seconds = self_test_seconds(ws);
    if (!seconds.ok()) obs.workload_error = seconds.error().to_string();
    if (job && revision_annotation(*job) != rev) {
      KAITO_TRY(delete_child(env, resources::kJobs, ns, name, "Foreground"));
      if (env.events)
        (void)env.events->record(
            ws, event_type::normal, "JobRestarted",
            "deleted Job of revision " + revision_annotation(*job) + " for revision " + rev);
      job.reset();
    }
    if (!job && resource_ready && seconds.ok()) {
      if (!*seconds) KAITO_TRY(ensure_tuning_config(env, *r, ws, f));
      auto c =
          env.client->create(resources::kJobs, ns, build_tuning_job(ws, f, *revision, *seconds));
      if (c.ok()) {
        job = std::move(*c);
      } else if (c.error().code() == status_code::already_exists) {
        out.requeue_after = milliseconds(500);  // the old Job is still going away
      } else {
        return c.error();
      }
    }
    obs.job = job;
  } else {
    KAITO_TRY(ensure(env, *r, resources::kServices, ns, build_service(ws, f)).take_status());
    KAITO_TRY(
        ensure(env, *r, resources::kServices, ns, build_headless_service(ws, f)).take_status());
    auto s = r->get(resources::kStatefulSets, ns, name);
    if (!s.ok()) return s.error();
    std::optional<json> sts = std::move(*s);
    json want = build_inference_statefulset(ws, f, *revision);
    if (!sts && resource_ready) {
      auto c = ensure(env, *r, resources::kStatefulSets, ns, want);
      if (!c.ok()) return c.error();
      sts = std::move(*c);
    } else if (sts && revision_annotation(*sts) != rev) {
      json next = *sts;
      next["metadata"]["annotations"][annotations::kRevision] = rev;
      next["spec"]["replicas"] = want["spec"]["replicas"];
      next["spec"]["template"] = want["spec"]["template"];
      auto u = env.client->update(resources::kStatefulSets, ns, next);
      if (!u.ok()) return u.error();
      sts = std::move(*u);
    }
    obs.statefulset = sts;
    // Not all ready: the pods say why (Kaito's classifyInferencePodFailure).
    const json& ready = sts ? member(member(*sts, "status"), "readyReplicas") : json();
    if (sts && (!ready.is_number_integer() || ready.get<int64_t>() < f.target_node_count)) {
      auto pods = r->list(resources::kPods, ns, list_query{{{labels::kWorkspace, name}}, ""});
      if (!pods.ok()) return pods.error();
      obs.pods = std::move(*pods);
    }
  }
  KAITO_TRY(write_status(env, ws, compute_workspace_status(f, old_status, obs, now)));
  return out;
}

}  // namespace

result<reconcile_result> reconcile_workspace(const controller_env& env, const std::string& ns,
                                             const std::string& name) {
  try {
    return reconcile_impl(env, ns, name);
  } catch (const json::exception& e) {
    return internal_error("workspace " + ns + "/" + name + ": malformed object: " + e.what());
  }
}

}  // namespace kaito::k8s::controllers
