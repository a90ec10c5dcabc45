// An inference Workspace end to end against the embedded API server: StatefulSet + Services owned
// by the Workspace, pods bound to claimed machines, InferenceReady/Ready once the machines report
// ready pods, NotReady after a replica is lost, a Failed pod re-created, and deletion.
#include "tests/k8s/controllers/controllers_fixture.h"

namespace kaito::k8s::controllers::testing {
namespace {

TEST_F(ControllersTest, InferenceStatefulSetAndServicesBecomeReady) {
  add_machine("m1", "Standard_NC24ads_A100_v4");
  add_machine("m2", "Standard_NC24ads_A100_v4");
  add_machine("m3", "Standard_NC6s_v3");
  create_ws(inference_workspace("phi", "Standard_NC24ads_A100_v4", 2));
  std::vector<std::string> seen;
  for (int i = 0; i < 20 && state("phi") != "Ready"; ++i) {
    step(env_);
    ASSERT_FALSE(HasFatalFailure());
    json ws = get(res::kWorkspaces, "phi");
    std::string c = cond(ws, "ResourceReady") + "," + cond(ws, "InferenceReady") + "," +
                    cond(ws, "WorkspaceSucceeded") + "," + state("phi");
    if (seen.empty() || seen.back() != c) seen.push_back(c);
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), "Unknown,Unknown,Unknown,Pending");
  EXPECT_EQ(seen.back(), "True,True,True,Ready");
  json ws = get(res::kWorkspaces, "phi");
  EXPECT_EQ(cond(ws, "InferenceReady", "reason"), "WorkspaceInferenceStatusSuccess");
  EXPECT_EQ(ws["status"]["workerNodes"], json::array({"m1", "m2"}));
  EXPECT_EQ(ws["status"]["targetNodeCount"], 2);

  json sts = get(res::kStatefulSets, "phi");
  EXPECT_EQ(sts["spec"]["replicas"], 2);
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "Parallel");
  EXPECT_EQ(sts["spec"]["serviceName"], "phi-headless");
  EXPECT_EQ(sts["spec"]["selector"]["matchLabels"]["kaito.sh/workspace"], "phi");
  EXPECT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["args"],
            json::array({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000",
                         "--chat-template=phi-3"}));
  EXPECT_EQ(sts["status"]["readyReplicas"], 2);
  EXPECT_EQ(sts["status"]["availableReplicas"], 2);
  EXPECT_EQ(sts["status"]["currentReplicas"], 2);
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["uid"], ws["metadata"]["uid"]);
  json svc = get(res::kServices, "phi");
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 80);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 5000);
  EXPECT_EQ(get(res::kServices, "phi-headless")["spec"]["clusterIP"], "None");
  std::set<std::string> nodes;
  for (const auto& p : list(res::kPods)) nodes.insert(p["spec"]["nodeName"].get<std::string>());
  EXPECT_EQ(nodes, std::set<std::string>({"m1", "m2"}));

  // Steady state: no writes; the Workspace, two Services, the StatefulSet and claimed Nodes read.
  counting_reader counted(*c_);
  controller_env e = make_env();
  e.reader = &counted;
  std::string rv = meta_string(get(res::kWorkspaces, "phi"), "resourceVersion");
  std::string sts_rv = meta_string(get(res::kStatefulSets, "phi"), "resourceVersion");
  ASSERT_TRUE(reconcile_workspace(e, "default", "phi").ok());
  ASSERT_TRUE(reconcile_statefulset(e, "default", "phi").ok());
  EXPECT_EQ(counted.gets, 5);
  EXPECT_EQ(counted.lists, 2);
  EXPECT_EQ(meta_string(get(res::kWorkspaces, "phi"), "resourceVersion"), rv);
  EXPECT_EQ(meta_string(get(res::kStatefulSets, "phi"), "resourceVersion"), sts_rv);

  // A replica's container fails: the pod is re-created; meanwhile the Workspace is NotReady.
  pod_report crash;
  crash.uid = meta_string(get(res::kPods, "phi-1"), "uid");
  crash.phase = pod_phase_value::failed;
  crash.exit_code = 137;
  crash.reason = "OOMKilled";
  ASSERT_TRUE(apply_pod_report(*c_, "default", "phi-1", crash).ok());
  machines_on_ = false;
  step(env_);  // the sts controller deletes the Failed pod
  step(env_);  // re-creates it; the Workspace sees 1/2 ready
  step(env_);
  EXPECT_EQ(state("phi"), "NotReady");
  EXPECT_NE(meta_string(get(res::kPods, "phi-1"), "uid"), crash.uid);
  machines_on_ = true;
  ASSERT_TRUE(run_until([&] { return state("phi") == "Ready"; }));

  // A replica's container crash-loops: InferenceReady names it as Kaito's classification does.
  pod_report loop;
  loop.uid = meta_string(get(res::kPods, "phi-0"), "uid");
  loop.phase = pod_phase_value::running;
  loop.container = container_state_value::waiting;
  loop.reason = "CrashLoopBackOff";
  loop.message = "back-off 10s restarting failed container=phi pod=phi-0_default(uid)";
  loop.last = container_termination{3, "Error", "engine failed to load", {}, {}};
  ASSERT_TRUE(apply_pod_report(*c_, "default", "phi-0", loop).ok());
  machines_on_ = false;
  step(env_);  // the StatefulSet sees 1/2 ready
  step(env_);  // the Workspace sees it and its pods
  ws = get(res::kWorkspaces, "phi");
  EXPECT_EQ(state("phi"), "NotReady");
  EXPECT_EQ(cond(ws, "InferenceReady"), "False");
  EXPECT_EQ(cond(ws, "InferenceReady", "reason"), "ContainerCrashLoopBackOff");
  EXPECT_EQ(cond(ws, "InferenceReady", "message"),
            "container \"phi\" is in CrashLoopBackOff; last termination: engine failed to load");
  // Its restart comes up: Ready again.
  pod_report up;
  up.uid = loop.uid;
  up.phase = pod_phase_value::running;
  up.ready = true;
  up.restart_count = 1;
  ASSERT_TRUE(apply_pod_report(*c_, "default", "phi-0", up).ok());
  machines_on_ = true;
  ASSERT_TRUE(run_until([&] { return state("phi") == "Ready"; }));
  ws = get(res::kWorkspaces, "phi");
  EXPECT_EQ(cond(ws, "InferenceReady", "reason"), "WorkspaceInferenceStatusSuccess");
  EXPECT_EQ(get(res::kPods,
                "phi-0")["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"],
            "engine failed to load");

  // Deletion: StatefulSet, Services and pods go; claims are released.
  ASSERT_TRUE(c_->remove(res::kWorkspaces, "default", "phi").ok());
  ASSERT_TRUE(reconcile_workspace(env_, "default", "phi").ok());
  EXPECT_FALSE(exists(res::kWorkspaces, "phi"));
  EXPECT_FALSE(exists(res::kStatefulSets, "phi"));
  EXPECT_FALSE(exists(res::kServices, "phi"));
  EXPECT_FALSE(exists(res::kServices, "phi-headless"));
  EXPECT_TRUE(list(res::kPods).empty());
  for (const char* n : {"m1", "m2"})
    EXPECT_FALSE(get(res::kNodes, n, "")["metadata"]["labels"].contains("kaito.sh/workspace"));
}

TEST_F(ControllersTest, UnschedulablePodsWaitForASlot) {
  // Workspace claims are exclusive, so slot sharing is exercised with hand-made Jobs on one
  // machine that has a single worker slot.
  add_machine("m1", "", 1);
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "j"}, {"namespace", "default"}}},
              {"spec",
               {{"backoffLimit", 0},
                {"template",
                 {{"spec",
                   {{"restartPolicy", "Never"},
                    {"nodeSelector", {{"pool", "x"}}},
                    {"containers", json::array({{{"name", "c"}, {"image", "i"}}})}}}}}}}};
  ASSERT_TRUE(c_->create(res::kJobs, "default", job).ok());
  auto r = reconcile_job(env_, "default", "j");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->requeue_after, 5s);
  json pod = get(res::kPods, "j-0");
  EXPECT_FALSE(pod["spec"].contains("nodeName"));
  EXPECT_EQ(cond(pod, "PodScheduled"), "False");
  EXPECT_EQ(cond(pod, "PodScheduled", "reason"), "Unschedulable");
  EXPECT_EQ(cond(pod, "PodScheduled", "message"),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.");
  ASSERT_TRUE(c_->patch(res::kNodes, "", "m1", patch_type::merge,
                        {{"metadata", {{"labels", {{"pool", "x"}}}}}})
                  .ok());
  ASSERT_TRUE(reconcile_job(env_, "default", "j").ok());
  pod = get(res::kPods, "j-0");
  EXPECT_EQ(pod["spec"]["nodeName"], "m1");
  EXPECT_EQ(cond(pod, "PodScheduled"), "True");
  EXPECT_EQ(get(res::kJobs, "j")["status"]["active"], 1);
  // A second Job on the same selector: the only slot is taken.
  job["metadata"]["name"] = "k";
  ASSERT_TRUE(c_->create(res::kJobs, "default", job).ok());
  ASSERT_TRUE(reconcile_job(env_, "default", "k").ok());
  EXPECT_EQ(cond(get(res::kPods, "k-0"), "PodScheduled", "message"),
            "0/1 nodes are available: 1 node(s) had no free worker slot.");
  // j finishes: k gets the slot.
  pod_report done;
  done.uid = meta_string(pod, "uid");
  done.phase = pod_phase_value::succeeded;
  ASSERT_TRUE(apply_pod_report(*c_, "default", "j-0", done).ok());
  ASSERT_TRUE(reconcile_job(env_, "default", "j").ok());
  EXPECT_EQ(cond(get(res::kJobs, "j"), "Complete"), "True");
  EXPECT_FALSE(get(res::kJobs, "j")["status"].value("completionTime", "").empty());
  ASSERT_TRUE(reconcile_job(env_, "default", "k").ok());
  EXPECT_EQ(get(res::kPods, "k-0")["spec"]["nodeName"], "m1");
  // Repeated identical Events aggregate into one with a count.
  json involved = get(res::kJobs, "j");
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(events_->record(involved, event_type::warning, "Test", "same message").ok());
  json ev = get(res::kEvents,
                event_recorder::event_name(involved, event_type::warning, "Test", "same message"));
  EXPECT_EQ(ev["count"], 3);
  EXPECT_EQ(ev["source"]["component"], "kaito-workspace");
  EXPECT_EQ(ev["involvedObject"]["kind"], "Job");
}

}  // namespace
}  // namespace kaito::k8s::controllers::testing
