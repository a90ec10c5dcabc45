// The Workspace, Job and node reconcilers end to end against the embedded API server, for a tuning
// Workspace whose Job is a self-test: condition/state progression as Kaito's, idempotence (no
// writes in steady state), spec update -> revision 2 and a new Job, deletion, missing machines,
// node loss and eviction, retries up to backoffLimit, restart safety and a bad annotation.
#include "tests/k8s/controllers/controllers_fixture.h"

namespace kaito::k8s::controllers::testing {
namespace {

// (ResourceReady, JobStarted, WorkspaceSucceeded, State) as `kubectl get workspace` prints them.
std::string columns(ControllersTest& t, const json& ws) {
  return t.cond(ws, "ResourceReady") + "," + t.cond(ws, "JobStarted") + "," +
         t.cond(ws, "WorkspaceSucceeded") + "," +
         ws.value("status", json::object()).value("state", "");
}

// name -> resourceVersion of every object the controllers write.
std::map<std::string, std::string> snapshot(ControllersTest& t) {
  std::map<std::string, std::string> out;
  for (const auto& r : {res::kWorkspaces, res::kJobs, res::kPods, res::kControllerRevisions,
                        res::kEvents, res::kNodes, res::kStatefulSets, res::kServices})
    for (const auto& o : t.list(r, ""))
      out[r.resource + "/" + meta_string(o, "namespace") + "/" + meta_string(o, "name")] =
          meta_string(o, "resourceVersion");
  return out;
}

TEST_F(ControllersTest, TuningProgressesLikeKaitoAndSteadyStateWritesNothing) {
  add_machine("m1", "Standard_NC6s_v3");
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  std::vector<std::string> seen;
  for (int i = 0; i < 20 && state("tune") != "Succeeded"; ++i) {
    step(env_);
    ASSERT_FALSE(HasFatalFailure());
    std::string c = columns(*this, get(res::kWorkspaces, "tune"));
    if (seen.empty() || seen.back() != c) seen.push_back(c);
  }
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front(), "Unknown,Unknown,Unknown,Pending");  // first visit
  EXPECT_EQ(seen.back(), "True,True,True,Succeeded");
  // Somewhere in between the job was running.
  EXPECT_NE(std::find(seen.begin(), seen.end(), "True,True,False,Running"), seen.end());

  json ws = get(res::kWorkspaces, "tune");
  EXPECT_EQ(cond(ws, "ResourceReady", "reason"), "workspaceResourceStatusSuccess");
  EXPECT_EQ(cond(ws, "JobStarted", "reason"), "WorkspaceTuningJobStatusStarted");
  EXPECT_EQ(cond(ws, "WorkspaceSucceeded", "reason"), "workspaceSucceeded");
  EXPECT_EQ(cond(ws, "NodeClaimReady"), "True");
  EXPECT_EQ(cond(ws, "NodesReady"), "True");
  EXPECT_EQ(ws["status"]["workerNodes"], json::array({"m1"}));
  EXPECT_EQ(ws["status"]["targetNodeCount"], 1);
  EXPECT_EQ(ws["metadata"]["finalizers"], json::array({"workspace.finalizer.kaito.sh"}));
  EXPECT_EQ(ws["metadata"]["annotations"]["workspace.kaito.io/revision"], "1");
  std::string hash = ws["metadata"]["annotations"]["workspace.kaito.io/hash"];
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_TRUE(exists(res::kControllerRevisions, "tune-" + hash.substr(0, 5)));
  for (const auto& c : ws["status"]["conditions"])
    EXPECT_EQ(c["observedGeneration"], ws["metadata"]["generation"]) << c.dump();

  json job = get(res::kJobs, "tune");
  EXPECT_EQ(cond(job, "Complete"), "True");
  EXPECT_EQ(job["status"]["succeeded"], 1);
  EXPECT_EQ(job["metadata"]["annotations"]["workspace.kaito.io/revision"], "1");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["uid"], ws["metadata"]["uid"]);
  const json& ctr = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(ctr["name"], "tune");
  EXPECT_EQ(ctr["image"], "kaito-cpp/kaito:0.1.0");
  EXPECT_EQ(ctr["args"],
            json::array({"--task=tune", "--preset=phi-3-mini-128k-instruct", "--method=qlora",
                         "--input-url=https://example.com/data/train.parquet",
                         "--output-image=registry.example.com/adapters/a:0.0.1"}));
  EXPECT_EQ(ctr["resources"]["limits"]["nvidia.com/gpu"], "1");  // Standard_NC6s_v3: 1 V100
  // No tuning.config: Kaito's default template, copied from the release namespace, is mounted.
  json copy = get(res::kConfigMaps, "qlora-params-template");
  EXPECT_EQ(copy["data"],
            get(res::kConfigMaps, "qlora-params-template", "kaito-workspace")["data"]);
  EXPECT_FALSE(copy["data"].empty());
  bool mounted = false;
  for (const auto& v : job["spec"]["template"]["spec"]["volumes"])
    if (v["name"] == "config-volume") mounted = v["configMap"]["name"] == "qlora-params-template";
  EXPECT_TRUE(mounted);
  json pod = get(res::kPods, "tune-0");
  EXPECT_EQ(pod["spec"]["nodeName"], "m1");
  EXPECT_EQ(pod["status"]["phase"], "Succeeded");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(pod["status"]["hostIP"], "127.0.0.1");
  json node = get(res::kNodes, "m1", "");
  EXPECT_EQ(node["metadata"]["labels"]["kaito.sh/workspace"], "tune");
  EXPECT_EQ(node["metadata"]["labels"]["apps"], "tune");
  // Kaito-style events on transitions.
  bool succeeded_event = false;
  for (const auto& e : list(res::kEvents))
    if (e["reason"] == "workspaceSucceeded" && e["involvedObject"]["name"] == "tune")
      succeeded_event = true;
  EXPECT_TRUE(succeeded_event);

  // Steady state: more passes write nothing at all.
  auto before = snapshot(*this);
  for (int i = 0; i < 3; ++i) step(env_);
  EXPECT_EQ(snapshot(*this), before);
  EXPECT_EQ(list(res::kPods).size(), 1u);
  EXPECT_EQ(list(res::kJobs).size(), 1u);
  // ... and reads little: the Workspace, its Job, its claimed Nodes; the Job and its pods.
  counting_reader counted(*c_);
  controller_env e = make_env();
  e.reader = &counted;
  ASSERT_TRUE(reconcile_workspace(e, "default", "tune").ok());
  EXPECT_EQ(counted.gets, 2);
  EXPECT_EQ(counted.lists, 1);
  ASSERT_TRUE(reconcile_job(e, "default", "tune").ok());
  EXPECT_EQ(counted.gets, 3);
  EXPECT_EQ(counted.lists, 2);
  EXPECT_EQ(snapshot(*this), before);
}

TEST_F(ControllersTest, SpecUpdateMakesRevisionTwoAndANewJobThenDeletionCleansUp) {
  add_machine("m1", "Standard_NC6s_v3");
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  ASSERT_TRUE(run_until([&] { return state("tune") == "Succeeded"; }));
  std::string old_job_uid = meta_string(get(res::kJobs, "tune"), "uid");
  json patch = {
      {"tuning", {{"input", {{"urls", json::array({"https://example.com/data/v2.parquet"})}}}}}};
  ASSERT_TRUE(c_->patch(res::kWorkspaces, "default", "tune", patch_type::merge, patch).ok());
  ASSERT_TRUE(run_until([&] {
    json j = get(res::kJobs, "tune");
    return meta_string(j, "uid") != old_job_uid && cond(j, "Complete") == "True" &&
           state("tune") == "Succeeded";
  }));
  json ws = get(res::kWorkspaces, "tune");
  EXPECT_EQ(ws["metadata"]["annotations"]["workspace.kaito.io/revision"], "2");
  EXPECT_EQ(get(res::kJobs, "tune")["metadata"]["annotations"]["workspace.kaito.io/revision"], "2");
  EXPECT_EQ(list(res::kControllerRevisions).size(), 2u);
  EXPECT_EQ(list(res::kJobs).size(), 1u);
  for (const auto& p : list(res::kPods))  // the old Job's pods went with it
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["uid"],
              get(res::kJobs, "tune")["metadata"]["uid"]);

  // Deletion: the finalizer holds the object until children are gone and claims released.
  ASSERT_TRUE(c_->remove(res::kWorkspaces, "default", "tune").ok());
  ASSERT_TRUE(exists(res::kWorkspaces, "tune"));
  ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
  EXPECT_FALSE(exists(res::kWorkspaces, "tune"));
  EXPECT_FALSE(exists(res::kJobs, "tune"));
  EXPECT_TRUE(list(res::kPods).empty());
  EXPECT_TRUE(list(res::kControllerRevisions).empty());
  json node = get(res::kNodes, "m1", "");
  EXPECT_FALSE(node["metadata"]["labels"].contains("kaito.sh/workspace"));
  EXPECT_FALSE(node["metadata"]["labels"].contains("apps"));
  EXPECT_FALSE(node["metadata"]["labels"].contains("kaito.sh/workspacenamespace"));
  // Reconciling a gone Workspace is a no-op.
  EXPECT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
}

TEST_F(ControllersTest, NotEnoughMachinesThenANodeRegisters) {
  add_machine("other", "Standard_NC24ads_A100_v4");  // wrong type: does not qualify
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());  // first visit
  auto r = reconcile_workspace(env_, "default", "tune");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requeue_after, 2s);
  json ws = get(res::kWorkspaces, "tune");
  EXPECT_EQ(cond(ws, "ResourceReady"), "False");
  EXPECT_EQ(cond(ws, "ResourceReady", "reason"), "workspaceResourceStatusNotReady");
  EXPECT_NE(cond(ws, "ResourceReady", "message")
                .find("need 1 more machine(s) of instance type Standard_NC6s_v3"),
            std::string::npos)
      << cond(ws, "ResourceReady", "message");
  EXPECT_EQ(cond(ws, "NodeClaimReady"), "False");
  EXPECT_EQ(ws["status"]["state"], "Pending");
  EXPECT_FALSE(exists(res::kJobs, "tune"));
  // A machine without --instance-type may stand for any type.
  add_machine("any", "");
  ASSERT_TRUE(run_until([&] { return state("tune") == "Succeeded"; }));
  EXPECT_EQ(get(res::kWorkspaces, "tune")["status"]["workerNodes"], json::array({"any"}));
  EXPECT_FALSE(get(res::kNodes, "other", "")["metadata"]["labels"].contains("kaito.sh/workspace"));
}

TEST_F(ControllersTest, LostNodeIsEvictedAndTheJobMovesWithoutAFailure) {
  add_machine("a", "Standard_NC6s_v3");
  add_machine("b", "Standard_NC6s_v3");
  policy_ = [](const json& pod) -> std::optional<pod_report> {  // run, never finish
    if (pod_phase(pod) != "Pending") return std::nullopt;
    pod_report r;
    r.uid = meta_string(pod, "uid");
    r.phase = pod_phase_value::running;
    r.ready = true;
    return r;
  };
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  ASSERT_TRUE(run_until([&] { return state("tune") == "Running"; }));
  json pod = get(res::kPods, "tune-0");
  ASSERT_EQ(pod["spec"]["nodeName"], "a");  // first fitting node by name
  // Machine a stops heartbeating: the lifecycle marks it Unknown and evicts its pods.
  down_.insert("a");
  ASSERT_TRUE(mark_node_not_ready(*c_, "a", "NodeStatusUnknown",
                                  "Kubelet stopped posting node status.", clock_->now())
                  .ok());
  EXPECT_EQ(cond(get(res::kNodes, "a", ""), "Ready"), "Unknown");
  auto evicted = evict_pods_from_node(*c_, "a", "node lost", events_.get());
  ASSERT_TRUE(evicted.ok());
  EXPECT_EQ(*evicted, std::vector<std::string>({"default/tune-0"}));
  ASSERT_TRUE(run_until([&] {
    json p = get(res::kPods, "tune-0");
    return p.is_object() && p["spec"].value("nodeName", "") == "b" && pod_phase(p) == "Running";
  }));
  json job = get(res::kJobs, "tune");
  EXPECT_FALSE(job["status"].contains("failed"));
  EXPECT_EQ(job["status"]["active"], 1);
  json ws = get(res::kWorkspaces, "tune");
  EXPECT_EQ(ws["status"]["workerNodes"], json::array({"b"}));
  EXPECT_EQ(ws["status"]["state"], "Running");
  EXPECT_FALSE(get(res::kNodes, "a", "")["metadata"]["labels"].contains("kaito.sh/workspace"));
  // A late report from machine a about the old pod is ignored (uid mismatch).
  pod_report late;
  late.uid = meta_string(pod, "uid");
  late.phase = pod_phase_value::failed;
  late.exit_code = 137;
  auto applied = apply_pod_report(*c_, "default", "tune-0", late);
  ASSERT_TRUE(applied.ok());
  EXPECT_FALSE(*applied);
  EXPECT_EQ(pod_phase(get(res::kPods, "tune-0")), "Running");
  // Machine a comes back: a heartbeat makes it Ready again (full path, then the fast path).
  ASSERT_TRUE(node_heartbeat(*c_, "a", clock_->now()).ok());
  EXPECT_EQ(cond(get(res::kNodes, "a", ""), "Ready"), "True");
  std::string rv = meta_string(get(res::kNodes, "a", ""), "resourceVersion");
  clock_->advance(10s);
  ASSERT_TRUE(node_heartbeat(*c_, "a", clock_->now()).ok());
  json a = get(res::kNodes, "a", "");
  EXPECT_NE(meta_string(a, "resourceVersion"), rv);
  EXPECT_NE(cond(a, "Ready", "lastHeartbeatTime"), cond(a, "Ready", "lastTransitionTime"));
}

TEST_F(ControllersTest, WorkerFailuresExhaustBackoffLimitAndTheWorkspaceFails) {
  add_machine("m1", "Standard_NC6s_v3");
  policy_ = [](const json& pod) -> std::optional<pod_report> {
    if (pod_phase(pod) != "Pending") return std::nullopt;
    pod_report r;
    r.uid = meta_string(pod, "uid");
    r.phase = pod_phase_value::failed;
    r.exit_code = 1;
    r.message = "self-test: GEMM mismatch";
    return r;
  };
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  ASSERT_TRUE(run_until([&] { return state("tune") == "Failed"; }, 40));
  json job = get(res::kJobs, "tune");
  EXPECT_EQ(cond(job, "Failed"), "True");
  EXPECT_EQ(cond(job, "Failed", "reason"), "BackoffLimitExceeded");
  EXPECT_EQ(job["status"]["failed"], 7);  // backoffLimit 6: the 7th failure fails the Job
  EXPECT_EQ(list(res::kPods).size(), 7u);
  EXPECT_TRUE(exists(res::kPods, "tune-6"));
  json ws = get(res::kWorkspaces, "tune");
  EXPECT_EQ(cond(ws, "JobStarted"), "False");
  EXPECT_EQ(cond(ws, "JobStarted", "reason"), "WorkspaceTuningJobStatusFailed");
  EXPECT_EQ(cond(ws, "WorkspaceSucceeded", "reason"), "workspaceFailed");
  for (int i = 0; i < 3; ++i) step(env_);
  EXPECT_EQ(list(res::kPods).size(), 7u);  // a failed Job retries no more
}

TEST_F(ControllersTest, AFreshEnvironmentReconcilesTheSameWorldWithoutDuplicates) {
  add_machine("m1", "Standard_NC6s_v3");
  policy_ = [](const json&) -> std::optional<pod_report> { return std::nullopt; };  // no reports
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));
  for (int i = 0; i < 4; ++i) step(env_);
  ASSERT_TRUE(exists(res::kPods, "tune-0"));
  // "Restart": new recorder, new reader (informer caches this time), no memory of the past.
  event_recorder fresh_events(*c_, clock_);
  informer ws_inf(*c_, res::kWorkspaces, ""), job_inf(*c_, res::kJobs, ""),
      pod_inf(*c_, res::kPods, ""), node_inf(*c_, res::kNodes, "");
  informer_reader cache(*c_);
  cache.add(res::kWorkspaces, &ws_inf);
  cache.add(res::kJobs, &job_inf);
  cache.add(res::kPods, &pod_inf);
  cache.add(res::kNodes, &node_inf);
  for (auto* i : {&ws_inf, &job_inf, &pod_inf, &node_inf}) {
    i->start();
    ASSERT_TRUE(i->wait_for_sync(5s));
  }
  controller_env fresh = make_env();
  fresh.events = &fresh_events;
  fresh.reader = &cache;
  for (int i = 0; i < 3; ++i) {
    step(fresh, /*tolerant=*/true);
    std::this_thread::sleep_for(50ms);  // let the caches catch up
  }
  EXPECT_EQ(list(res::kJobs).size(), 1u);
  EXPECT_EQ(list(res::kPods).size(), 1u);
  EXPECT_EQ(list(res::kControllerRevisions).size(), 1u);
  policy_ = run_to_success;
  for (int i = 0; i < 60 && state("tune") != "Succeeded"; ++i) {
    step(fresh, /*tolerant=*/true);
    std::this_thread::sleep_for(50ms);  // let the caches catch up
  }
  EXPECT_EQ(state("tune"), "Succeeded");
  EXPECT_EQ(list(res::kPods).size(), 1u);
  for (auto* i : {&ws_inf, &job_inf, &pod_inf, &node_inf}) i->stop();
}

TEST_F(ControllersTest, AnInvalidSelfTestAnnotationIsReportedInTheConditions) {
  add_machine("m1", "Standard_NC6s_v3");
  json ws = tuning_workspace("tune", "Standard_NC6s_v3");
  ws["metadata"]["annotations"] = {{"kaito.sh/self-test-seconds", "ten"}};
  create_ws(ws);
  for (int i = 0; i < 3; ++i) step(env_);
  json live = get(res::kWorkspaces, "tune");
  EXPECT_EQ(cond(live, "JobStarted"), "False");
  EXPECT_EQ(cond(live, "JobStarted", "reason"), "InvalidSelfTestSeconds");
  EXPECT_NE(cond(live, "JobStarted", "message").find("kaito.sh/self-test-seconds"),
            std::string::npos);
  EXPECT_EQ(live["status"]["state"], "Failed");
  EXPECT_FALSE(exists(res::kJobs, "tune"));
  // Fixing it lets the Workspace proceed, with N in the Job's args.
  ASSERT_TRUE(c_->patch(res::kWorkspaces, "default", "tune", patch_type::merge,
                        {{"metadata", {{"annotations", {{"kaito.sh/self-test-seconds", "2"}}}}}})
                  .ok());
  ASSERT_TRUE(run_until([&] { return state("tune") == "Succeeded"; }));
  EXPECT_EQ(get(res::kJobs, "tune")["spec"]["template"]["spec"]["containers"][0]["args"][1],
            "--duration-seconds=2");
}

}  // namespace
}  // namespace kaito::k8s::controllers::testing

namespace kaito::k8s::controllers::testing {
namespace {

TEST_F(ControllersTest, RevisionHistoryKeepsTenAndAReturningSpecBecomesNewest) {
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));  // no machines: only revisions move
  ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
  ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
  auto revision = [&] {
    return get(res::kWorkspaces, "tune")["metadata"]["annotations"]["workspace.kaito.io/revision"];
  };
  EXPECT_EQ(revision(), "1");
  auto set_url = [&](int i) {
    json patch = {
        {"tuning",
         {{"input", {{"urls", json::array({"https://example.com/d" + std::to_string(i)})}}}}}};
    ASSERT_TRUE(c_->patch(res::kWorkspaces, "default", "tune", patch_type::merge, patch).ok());
    ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
  };
  for (int i = 1; i <= 11; ++i) set_url(i);
  EXPECT_EQ(revision(), "12");
  EXPECT_EQ(list(res::kControllerRevisions).size(), 10u);
  set_url(10);  // revision 11's spec again
  EXPECT_EQ(revision(), "13");
  EXPECT_EQ(list(res::kControllerRevisions).size(), 10u);
  std::string hash =
      get(res::kWorkspaces, "tune")["metadata"]["annotations"]["workspace.kaito.io/hash"];
  EXPECT_EQ(get(res::kControllerRevisions, "tune-" + hash.substr(0, 5))["revision"], 13);
  // A reconcile without a spec change keeps everything.
  ASSERT_TRUE(reconcile_workspace(env_, "default", "tune").ok());
  EXPECT_EQ(revision(), "13");
}

TEST_F(ControllersTest, AMissingDefaultTuningConfigIsAReconcileErrorNamingTheField) {
  add_machine("m1", "Standard_NC6s_v3");
  create_ws(tuning_workspace("tune", "Standard_NC6s_v3"));  // admitted: the template is there
  ASSERT_TRUE(c_->remove(res::kConfigMaps, "kaito-workspace", "qlora-params-template").ok());
  status last;
  for (int i = 0; i < 10 && !exists(res::kJobs, "tune"); ++i) {
    auto r = reconcile_workspace(env_, "default", "tune");
    if (!r.ok()) last = r.error();
  }
  EXPECT_FALSE(exists(res::kJobs, "tune"));
  EXPECT_EQ(last.where(), "tuning.config") << last.to_string();
  EXPECT_NE(last.message().find("qlora-params-template"), std::string::npos) << last.to_string();
}

}  // namespace
}  // namespace kaito::k8s::controllers::testing
