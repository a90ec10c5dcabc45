// Workspace status from observations; see workspace_status.h.
#include "k8s/controllers/workspace_status.h"

#include "k8s/client/api_error.h"
#include "k8s/controllers/conditions.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/names.h"
#include "k8s/controllers/pod_failure.h"
#include "protocol/api/workspace_types.h"

namespace kaito::k8s::controllers {

namespace {

namespace ct = api::condition_types;

int64_t int_of(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

const json& status_of(const json& obj) {
  static const json empty = json::object();
  if (!obj.is_object() || !obj.contains("status") || !obj["status"].is_object()) return empty;
  return obj["status"];
}

std::string job_failed_message(const json& job) {
  const json& st = status_of(job);
  auto it = st.find("conditions");
  const json* c = it == st.end() ? nullptr : find_condition(*it, "Failed");
  return c ? string_field(*c, "message") : "";
}

}  // namespace

json compute_workspace_status(const workspace_facts& f, const json& old_status,
                              const workspace_observation& o, const std::string& now) {
  json st = old_status.is_object() ? old_status : json::object();
  json conds = st.value("conditions", json::array());
  int64_t g = f.generation;
  auto set = [&](const char* type, const char* status, const char* reason, const std::string& msg) {
    set_condition(conds, {type, status, reason, msg}, g, now);
  };
  std::string state;
  if (o.first_visit) {
    const std::string m = "workspace reconcile started";
    set(ct::kNodeClaimReady, "Unknown", reasons::kNodeClaimNotReady, m);
    set(ct::kNodesReady, "Unknown", reasons::kNodeNotReady, m);
    set(ct::kResourceReady, "Unknown", reasons::kResourceNotReady, m);
    if (f.tuning)
      set(ct::kJobStarted, "Unknown", reasons::kJobPending, m);
    else
      set(ct::kInferenceReady, "Unknown", reasons::kInferencePending, m);
    set(ct::kWorkspaceSucceeded, "Unknown", reasons::kPending, m);
    state = "Pending";
  } else {
    int64_t t = f.target_node_count, claimed = static_cast<int64_t>(o.claimed_nodes.size());
    std::string counts_claims = "(TargetNodeClaims: " + std::to_string(t) +
                                ", CurrentReadyNodeClaims: " + std::to_string(claimed) + ")";
    std::string counts_nodes = "(TargetNodes: " + std::to_string(t) +
                               ", CurrentReadyNodes: " + std::to_string(o.ready_claimed) + ")";
    if (claimed >= t)
      set(ct::kNodeClaimReady, "True", reasons::kNodeClaimsReady,
          "Enough NodeClaims are ready " + counts_claims);
    else
      set(ct::kNodeClaimReady, "False", reasons::kNodeClaimNotReady,
          "Ready NodeClaims are not enough " + counts_claims);
    bool resource_ready = o.ready_claimed >= t;
    if (resource_ready) {
      set(ct::kNodesReady, "True", reasons::kNodesReady, "Enough nodes are ready " + counts_nodes);
      set(ct::kResourceReady, "True", reasons::kResourceSuccess, "workspace resource is ready");
    } else {
      set(ct::kNodesReady, "False", reasons::kNodeNotReady,
          "Not enough Nodes are ready " + counts_nodes);
      set(ct::kResourceReady, "False", reasons::kResourceNotReady,
          missing_machines_message(f, o.ready_claimed, o.free_matching));
    }
    if (!o.workload_error.empty()) {
      set(f.tuning ? ct::kJobStarted : ct::kInferenceReady, "False", reasons::kInvalidSelfTest,
          o.workload_error);
      set(ct::kWorkspaceSucceeded, "False", reasons::kFailed, o.workload_error);
      state = "Failed";
    } else if (f.tuning) {
      const json& js = o.job ? status_of(*o.job) : json::object();
      if (!o.job) {
        set(ct::kJobStarted, "Unknown", reasons::kJobPending, "tuning job has not been created");
        set(ct::kWorkspaceSucceeded, "False", reasons::kPending, "workspace has not completed");
        state = "Pending";
      } else if (job_condition_true(*o.job, "Failed")) {
        std::string m = "tuning job failed: " + job_failed_message(*o.job);
        set(ct::kJobStarted, "False", reasons::kJobFailed, m);
        set(ct::kWorkspaceSucceeded, "False", reasons::kFailed, m);
        state = "Failed";
      } else if (job_condition_true(*o.job, "Complete") || int_of(js, "succeeded") > 0) {
        set(ct::kJobStarted, "True", reasons::kJobStarted, "tuning job has started");
        set(ct::kWorkspaceSucceeded, "True", reasons::kSucceeded, "workspace succeeds");
        state = "Succeeded";
      } else if (int_of(js, "active") > 0 || int_of(js, "ready") > 0) {
        set(ct::kJobStarted, "True", reasons::kJobStarted, "tuning job has started");
        set(ct::kWorkspaceSucceeded, "False", reasons::kPending, "workspace has not completed");
        state = "Running";
      } else {
        set(ct::kJobStarted, "False", reasons::kJobPending, "tuning job is pending");
        set(ct::kWorkspaceSucceeded, "False", reasons::kPending, "workspace has not completed");
        state = "Pending";
      }
    } else {
      std::string old_state = string_field(st, "state");
      bool was_ready = old_state == "Ready" || old_state == "NotReady";
      if (!o.statefulset) {
        set(ct::kInferenceReady, "Unknown", reasons::kInferencePending,
            "inference workload has not been created");
        set(ct::kWorkspaceSucceeded, "False", reasons::kPending, "workspace is not ready");
        state = was_ready ? "NotReady" : "Pending";
      } else {
        int64_t ready = int_of(status_of(*o.statefulset), "readyReplicas");
        if (ready >= t) {
          set(ct::kInferenceReady, "True", reasons::kInferenceSuccess,
              "Inference has been deployed successfully");
        } else if (auto why = classify_pod_failure(o.pods)) {
          set(ct::kInferenceReady, "False", why->reason.c_str(), why->message);
        } else {
          set(ct::kInferenceReady, "False", reasons::kInferencePending,
              "Inference is not ready: " + std::to_string(ready) + "/" + std::to_string(t) +
                  " replicas ready");
        }
        if (ready >= t && resource_ready) {
          set(ct::kWorkspaceSucceeded, "True", reasons::kSucceeded, "workspace succeeds");
          state = "Ready";
        } else {
          set(ct::kWorkspaceSucceeded, "False", reasons::kPending, "workspace is not ready");
          state = was_ready ? "NotReady" : "Pending";
        }
      }
    }
  }
  if (f.deleting)
    set(ct::kWorkspaceDeleting, "True", reasons::kDeleted, "workspace is being deleted");
  st["conditions"] = conds;
  st["state"] = state;
  st["targetNodeCount"] = f.target_node_count;
  st["workerNodes"] = o.claimed_nodes;
  return st;
}

}  // namespace kaito::k8s::controllers
