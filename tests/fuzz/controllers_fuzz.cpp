// libFuzzer target: the controllers' pure functions over untrusted objects. The input is one JSON
// document, read as a Workspace, a Job, a StatefulSet, a Pod and a Node at once (the actor layer
// hands these functions whatever the API server or a watch delivered). Any input must give values
// or error statuses, never a crash, an abort or an exception.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "k8s/controllers/conditions.h"
#include "k8s/controllers/enqueue.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/json_access.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/object_reader.h"
#include "k8s/controllers/pod_failure.h"
#include "k8s/controllers/pod_status.h"
#include "k8s/controllers/scheduling.h"
#include "k8s/controllers/statefulset_controller.h"
#include "k8s/controllers/workspace_desired.h"
#include "k8s/controllers/workspace_status.h"

using namespace kaito::k8s::controllers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  json j = json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  (void)self_test_seconds(j);
  (void)workspace_hash(j);
  auto f = read_workspace_facts(j, nullptr);
  if (f.ok()) {
    (void)build_tuning_job(j, *f, 1, 5);
    (void)build_tuning_job(j, *f, 1, std::nullopt);
    (void)build_inference_statefulset(j, *f, 1);
    (void)build_service(j, *f);
    (void)build_headless_service(j, *f);
    (void)build_controller_revision(j, workspace_hash(j), 1);
    (void)claim_patch(*f, j);
    (void)missing_machines_message(*f, 0, 1);
    workspace_observation o;
    o.job = j;
    o.statefulset = j;
    o.claimed_nodes = {"n"};
    json st = compute_workspace_status(*f, member(j, "status"), o, "t");
    if (!st.is_object()) __builtin_trap();
    o.first_visit = true;
    (void)compute_workspace_status(*f, j, o, "t");
  }
  (void)release_patch(j);
  std::vector<json> pods = {j, json::object(), json(1)};
  if (j.is_array())
    for (const auto& e : j) pods.push_back(e);
  (void)job_status_from_pods(j, pods, "t");
  (void)classify_pod_failure(pods);
  (void)job_finished(j);
  (void)statefulset_revision(j);
  (void)statefulset_status_from_pods(j, pods);
  pod_report r;
  r.uid = "u";
  for (auto phase : {pod_phase_value::pending, pod_phase_value::running, pod_phase_value::failed})
    for (auto c : {container_state_value::running, container_state_value::waiting,
                   container_state_value::terminated}) {
      r.phase = phase;
      r.restart_count = 1;
      r.container = c;
      r.last = c == container_state_value::waiting ? std::optional<container_termination>({})
                                                   : std::nullopt;
      (void)pod_status_from_report(j, r, "10.0.0.1", "t");
    }
  (void)node_ready(j);
  (void)node_worker_slots(j);
  (void)node_gpus(j);
  (void)node_label(j, "kaito.sh/workspace");
  (void)node_internal_ip(j);
  (void)pod_terminal(j);
  (void)workspace_keys_for(j);
  (void)job_keys_for(j);
  (void)statefulset_keys_for(j);
  (void)node_event_frees_capacity(j, j);
  (void)node_event_frees_capacity(json(), j);
  (void)matches(j, {{{"a", "b"}}, "n"});
  (void)build_pod(j, "ns", "p", {{"a", "b"}}, j, placement{"", "m"}, "t");
  (void)owned_by_uid(j, "u");
  json conds = member(j, "conditions");
  set_condition(conds, {"Ready", "True", "r", "m"}, 1, "t");
  if (condition_status(conds, "Ready") != "True") __builtin_trap();
  return 0;
}
