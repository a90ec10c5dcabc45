// The pure parts of the controllers, without a server: Workspace facts and desired objects
// (Kaito's Job/StatefulSet/Service shapes, kaito.md 3.3-3.4), the revision hash, node claims,
// conditions, status computation, Job/StatefulSet status over pods, pod status from machine
// reports, node labels and the event -> key mapping.
#include <gtest/gtest.h>

#include "k8s/controllers/conditions.h"
#include "k8s/controllers/enqueue.h"
#include "k8s/controllers/job_controller.h"
#include "k8s/controllers/nodes.h"
#include "k8s/controllers/pod_status.h"
#include "k8s/controllers/reconcile.h"
#include "k8s/controllers/statefulset_controller.h"
#include "k8s/controllers/workspace_desired.h"
#include "k8s/controllers/workspace_status.h"
#include "presets/preset_catalog.h"

namespace kaito::k8s::controllers {
namespace {

json tuning_ws() {
  return {{"apiVersion", "kaito.sh/v1beta1"},
          {"kind", "Workspace"},
          {"metadata", {{"name", "tune"}, {"namespace", "ns1"}, {"uid", "u-1"}, {"generation", 3}}},
          {"resource",
           {{"instanceType", "Standard_NC12s_v3"},
            {"labelSelector", {{"matchLabels", {{"apps", "tune"}}}}}}},
          {"tuning", {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}, {"method", "qlora"}}}};
}

const presets::preset_catalog& catalog() {
  static auto c = presets::load_catalog(std::string(KAITO_SOURCE_DIR) + "/presets");
  return **c;
}

TEST(WorkspaceDesired, FactsAndSelfTestSeconds) {
  auto f = read_workspace_facts(tuning_ws(), &catalog());
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_TRUE(f->tuning);
  EXPECT_EQ(f->target_node_count, 1);
  EXPECT_EQ(f->gpus_per_node, 2);  // Standard_NC12s_v3: 2 x V100 (Kaito v0.4.6 table)
  EXPECT_EQ(f->generation, 3);
  EXPECT_EQ(f->preset, "phi-3-mini-128k-instruct");
  json inf = tuning_ws();
  inf.erase("tuning");
  inf["inference"] = {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}};
  inf["resource"]["count"] = 3;
  EXPECT_EQ(read_workspace_facts(inf, nullptr)->target_node_count, 3);
  EXPECT_EQ(read_workspace_facts(inf, nullptr)->gpus_per_node, 0);  // no catalog: unknown
  json both = tuning_ws();
  both["inference"] = json::object();
  auto bad = read_workspace_facts(both, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(is_terminal(bad.error()));

  json ws = tuning_ws();
  EXPECT_FALSE(self_test_seconds(ws)->has_value());  // no annotation: a real tuning run
  for (auto [v, want] : std::vector<std::pair<std::string, int>>{{"0", 0}, {"86400", 86400}}) {
    ws["metadata"]["annotations"]["kaito.sh/self-test-seconds"] = v;
    EXPECT_EQ(**self_test_seconds(ws), want);
  }
  for (const char* v : {"-1", "86401", "ten", "", "5s", "1e3"}) {
    ws["metadata"]["annotations"]["kaito.sh/self-test-seconds"] = v;
    auto s = self_test_seconds(ws);
    ASSERT_FALSE(s.ok()) << v;
    EXPECT_EQ(s.error().where(), "metadata.annotations[kaito.sh/self-test-seconds]");
  }
}

TEST(WorkspaceDesired, HashFollowsTheSpecOnly) {
  json a = tuning_ws(), b = tuning_ws();
  b["metadata"]["annotations"] = {{"x", "y"}};
  b["status"] = {{"state", "Running"}};
  EXPECT_EQ(workspace_hash(a), workspace_hash(b));
  b["tuning"]["method"] = "lora";
  EXPECT_NE(workspace_hash(a), workspace_hash(b));
  EXPECT_EQ(workspace_hash(a).size(), 64u);
  json cr = build_controller_revision(a, workspace_hash(a), 4);
  EXPECT_EQ(cr["metadata"]["name"], "tune-" + workspace_hash(a).substr(0, 5));
  EXPECT_EQ(cr["revision"], 4);
  EXPECT_EQ(cr["metadata"]["labels"]["workspace.kaito.io/name"], "tune");
  EXPECT_EQ(cr["data"]["tuning"], a["tuning"]);
  EXPECT_EQ(cr["metadata"]["ownerReferences"][0]["kind"], "Workspace");
}

TEST(WorkspaceDesired, TuningJobHasKaitosShape) {
  json ws = tuning_ws();
  auto f = *read_workspace_facts(ws, &catalog());
  json job = build_tuning_job(ws, f, 2, 7);
  EXPECT_EQ(job["metadata"]["name"], "tune");
  EXPECT_EQ(job["metadata"]["namespace"], "ns1");
  EXPECT_EQ(job["metadata"]["labels"]["kaito.sh/workspace"], "tune");
  EXPECT_EQ(job["metadata"]["labels"]["kaito.sh/workspacenamespace"], "ns1");
  EXPECT_EQ(job["metadata"]["annotations"]["workspace.kaito.io/revision"], "2");
  const json& owner = job["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["uid"], "u-1");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  const json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["nodeSelector"],
            json({{"kaito.sh/workspace", "tune"}, {"kaito.sh/workspacenamespace", "ns1"}}));
  ASSERT_EQ(pod["containers"].size(), 1u);
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["name"], "tune");
  EXPECT_EQ(c["image"], "kaito-cpp/kaito:0.1.0");
  EXPECT_EQ(c["command"], json::array({"kaito", "worker"}));
  EXPECT_EQ(c["args"], json::array({"--task=self-test", "--duration-seconds=7"}));
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"], "2");
  EXPECT_EQ(c["resources"]["requests"]["nvidia.com/gpu"], "2");
  EXPECT_EQ(c["env"][0],
            json({{"name", "PYTORCH_CUDA_ALLOC_CONF"}, {"value", "expandable_segments:True"}}));
  // An unknown SKU (a CPU machine type): no GPU request.
  ws["resource"]["instanceType"] = "kaito-cpu";
  auto g = *read_workspace_facts(ws, &catalog());
  EXPECT_FALSE(
      build_tuning_job(ws, g, 1, 5)["spec"]["template"]["spec"]["containers"][0]["resources"]
          .contains("limits"));
}

TEST(WorkspaceDesired, TuningJobRunsTheTuneTaskWithKaitosVolumes) {
  json ws = tuning_ws();
  ws["tuning"]["config"] = "my-qlora-params";
  ws["tuning"]["input"] = {{"urls", json::array({"https://h.example/a/train.parquet",
                                                 "https://h.example/b.jsonl?x=1"})}};
  ws["tuning"]["output"] = {{"image", "registry.example/org/adapter:v1"},
                            {"imagePushSecret", "push-secret"}};
  auto f = *read_workspace_facts(ws, &catalog());
  json job = build_tuning_job(ws, f, 1, std::nullopt);
  const json& pod = job["spec"]["template"]["spec"];
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["args"],
            json::array({"--task=tune", "--preset=phi-3-mini-128k-instruct", "--method=qlora",
                         "--input-url=https://h.example/a/train.parquet",
                         "--input-url=https://h.example/b.jsonl?x=1",
                         "--output-image=registry.example/org/adapter:v1"}));
  auto volume = [&](const std::string& name) {
    for (const auto& v : pod["volumes"])
      if (v["name"] == name) return v;
    return json();
  };
  auto mount = [&](const std::string& name) {
    for (const auto& m : c["volumeMounts"])
      if (m["name"] == name) return m["mountPath"];
    return json();
  };
  EXPECT_EQ(
      volume("docker-config")["secret"],
      json({{"secretName", "push-secret"},
            {"items", json::array({{{"key", ".dockerconfigjson"}, {"path", "config.json"}}})}}));
  EXPECT_EQ(mount("docker-config"), "/root/.docker");
  EXPECT_EQ(volume("config-volume")["configMap"]["name"], "my-qlora-params");
  EXPECT_EQ(mount("config-volume"), "/mnt/config");
  EXPECT_TRUE(volume("data-volume").contains("emptyDir"));
  EXPECT_EQ(mount("results-volume"), "/mnt/results");
  // An input image: its pull secrets are projected and named; what the worker cannot move yet
  // (volumes) is passed on, so the Job fails naming the field.
  ws["tuning"]["input"] = {{"image", "registry.example/data:1"},
                           {"imagePullSecrets", {"pull-a", "pull-b", "pull-a"}}};
  ws["tuning"]["output"] = {{"volumeSource", {{"emptyDir", json::object()}}}};
  json spec = build_tuning_job(ws, f, 1, std::nullopt)["spec"]["template"]["spec"];
  json args = spec["containers"][0]["args"];
  EXPECT_EQ(args[3], "--input-image=registry.example/data:1");
  EXPECT_EQ(args[4], "--output-volume=tuning.output.volumeSource");
  EXPECT_EQ(args[5], "--pull-secret=/mnt/pull-secrets/pull-a/config.json");
  EXPECT_EQ(args[6], "--pull-secret=/mnt/pull-secrets/pull-b/config.json");
  EXPECT_EQ(args.size(), 7u);
  json pull_b;
  for (const auto& v : spec["volumes"])
    if (v["name"] == "pull-secret-1") pull_b = v;
  EXPECT_EQ(pull_b["secret"]["secretName"], "pull-b");
  EXPECT_EQ(pull_b["secret"]["items"][0],
            json({{"key", ".dockerconfigjson"}, {"path", "config.json"}}));
  // No tuning.config: the method's default template (copied into the namespace) is mounted.
  json no_config = ws;
  no_config["tuning"].erase("config");
  auto config_of = [&](const json& w) {
    json job = build_tuning_job(w, f, 1, std::nullopt);  // kept: the loop reads into it
    for (const auto& v : job["spec"]["template"]["spec"]["volumes"])
      if (v["name"] == "config-volume") return json(v["configMap"]["name"]);
    return json();
  };
  EXPECT_EQ(config_of(no_config), "qlora-params-template");
  no_config["tuning"]["method"] = "LoRA";
  EXPECT_EQ(config_of(no_config), "lora-params-template");
  json tmpl = {{"metadata",
                {{"name", "lora-params-template"},
                 {"namespace", "kaito-workspace"},
                 {"uid", "u1"},
                 {"resourceVersion", "7"}}},
               {"data", {{"training_config.yaml", "training_config: {}"}}}};
  json copy = default_tuning_config_copy(tmpl, f);
  EXPECT_EQ(copy["metadata"]["name"], "lora-params-template");
  EXPECT_EQ(copy["metadata"]["namespace"], f.ns);
  EXPECT_FALSE(copy["metadata"].contains("uid") || copy["metadata"].contains("resourceVersion"));
  EXPECT_EQ(copy["data"], tmpl["data"]);
  // No push secret any more: nothing mounted for it.
  EXPECT_EQ(
      build_tuning_job(ws, f, 1, std::nullopt)["spec"]["template"]["spec"]["volumes"].dump().find(
          "docker-config"),
      std::string::npos);
}

TEST(WorkspaceDesired, InferenceStatefulSetAndServices) {
  json ws = tuning_ws();
  ws.erase("tuning");
  ws["inference"] = {{"preset", {{"name", "phi-3-mini-128k-instruct"}}}};
  ws["resource"]["count"] = 2;
  auto f = *read_workspace_facts(ws, &catalog());
  json sts = build_inference_statefulset(ws, f, 1);
  EXPECT_EQ(sts["spec"]["replicas"], 2);
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "Parallel");
  EXPECT_EQ(sts["spec"]["serviceName"], "tune-headless");
  EXPECT_EQ(sts["spec"]["selector"]["matchLabels"], json({{"kaito.sh/workspace", "tune"}}));
  EXPECT_EQ(sts["spec"]["template"]["metadata"]["labels"]["kaito.sh/workspace"], "tune");
  // The preset's chat template goes along, for a model folder that has none.
  EXPECT_EQ(sts["spec"]["template"]["spec"]["containers"][0]["args"],
            json::array({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000",
                         "--chat-template=phi-3"}));
  // and its tool call format, where it names one (vLLM's --tool-call-parser)
  json qwen = ws;
  qwen["inference"]["preset"]["name"] = "qwen2.5-coder-7b-instruct";
  auto qf = *read_workspace_facts(qwen, &catalog());
  EXPECT_EQ(
      build_inference_statefulset(qwen, qf, 1)["spec"]["template"]["spec"]["containers"][0]["args"],
      json::array({"--task=serve", "--preset=qwen2.5-coder-7b-instruct", "--port=5000",
                   "--chat-template=chatml", "--tool-call-parser=hermes"}));
  // Adapters: image, strength and pull secrets for the worker to pull; a volume source is passed
  // on for the worker to refuse by name; the self-test annotation keeps the burn-in.
  json with = ws;
  with["inference"]["adapters"] = {
      {{"source", {{"name", "a1"}, {"image", "r.io/a1:1"}, {"imagePullSecrets", {"s1"}}}}},
      {{"source", {{"name", "a2"}, {"image", "r.io/a2:1"}, {"imagePullSecrets", {"s1", "s2"}}}},
       {"strength", "0.4"}},
      {{"source", {{"name", "a3"}, {"volumeSource", {{"emptyDir", json::object()}}}}}}};
  with["metadata"]["annotations"]["kaito.sh/runtime"] = "transformers";  // (strength: its own)
  json pod = build_inference_statefulset(with, f, 1)["spec"]["template"]["spec"];
  EXPECT_EQ(
      pod["containers"][0]["args"],
      json::array({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000",
                   "--adapter-image=a1=r.io/a1:1", "--adapter-image=a2=r.io/a2:1",
                   "--adapter-strength=a2=0.4", "--adapter-volume=a3", "--runtime=transformers",
                   "--chat-template=phi-3", "--pull-secret=/mnt/pull-secrets/s1/config.json",
                   "--pull-secret=/mnt/pull-secrets/s2/config.json"}));
  // The vllm runtime (the default) serves them as LoRA modules.
  json vllm = ws;
  vllm["inference"]["adapters"] = {{{"source", {{"name", "a1"}, {"image", "r.io/a1:1"}}}}};
  EXPECT_EQ(
      build_inference_statefulset(vllm, f, 1)["spec"]["template"]["spec"]["containers"][0]["args"],
      json::array({"--task=serve", "--preset=phi-3-mini-128k-instruct", "--port=5000",
                   "--adapter-image=a1=r.io/a1:1", "--runtime=vllm", "--chat-template=phi-3"}));
  EXPECT_EQ(pod["volumes"].size(), 3u);  // dshm, s1, s2
  EXPECT_EQ(
      pod["containers"][0]["volumeMounts"][2],
      json({{"name", "pull-secret-1"}, {"mountPath", "/mnt/pull-secrets/s2"}, {"readOnly", true}}));
  // inference.config: the ConfigMap at /mnt/config, as Kaito mounts it.
  json configured = ws;
  configured["inference"]["config"] = "my-inference-params";
  json cpod = build_inference_statefulset(configured, f, 1)["spec"]["template"]["spec"];
  EXPECT_EQ(cpod["volumes"].back(),
            json({{"name", "config-volume"}, {"configMap", {{"name", "my-inference-params"}}}}));
  EXPECT_EQ(cpod["containers"][0]["volumeMounts"].back(),
            json({{"name", "config-volume"}, {"mountPath", "/mnt/config"}}));
  EXPECT_EQ(sts["spec"]["template"]["spec"]["volumes"].size(), 1u);  // no config: dshm alone
  // Kaito's probes on /health: startup (its budget by weight size), liveness, readiness.
  const json& c0 = sts["spec"]["template"]["spec"]["containers"][0];
  json health = {{"path", "/health"}, {"port", 5000}, {"scheme", "HTTP"}};
  for (const char* probe : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    EXPECT_EQ(c0[probe]["httpGet"], health) << probe;
    EXPECT_EQ(c0[probe]["periodSeconds"], 10) << probe;
    EXPECT_EQ(c0[probe]["timeoutSeconds"], 5) << probe;
    EXPECT_EQ(c0[probe]["successThreshold"], 1) << probe;
  }
  EXPECT_EQ(c0["startupProbe"]["failureThreshold"], 180);  // phi-3-mini: the 30 min floor
  EXPECT_EQ(c0["livenessProbe"]["failureThreshold"], 3);
  EXPECT_EQ(c0["readinessProbe"]["failureThreshold"], 3);
  EXPECT_EQ(startup_failure_threshold(0), 180);
  EXPECT_EQ(startup_failure_threshold(400ll << 30), 810);        // 15 min + 400 x 18 s
  EXPECT_EQ(startup_failure_threshold((400ll << 30) + 1), 812);  // a started GiB counts
  EXPECT_EQ(startup_failure_threshold(1ll << 42), 1080);         // the 180 min ceiling
  EXPECT_EQ(startup_failure_threshold(INT64_MAX), 1080);
  with["metadata"]["annotations"]["kaito.sh/self-test-seconds"] = "1";
  const json self_test = build_inference_statefulset(with, f, 1)["spec"]["template"]["spec"];
  EXPECT_EQ(self_test["containers"][0]["args"], json::array({"--task=serve-self-test"}));
  EXPECT_FALSE(self_test["containers"][0].contains("livenessProbe"));  // it serves no /health
  json svc = build_service(ws, f);
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["ports"][0],
            json({{"name", "http"}, {"port", 80}, {"targetPort", 5000}, {"protocol", "TCP"}}));
  EXPECT_EQ(svc["spec"]["selector"]["statefulset.kubernetes.io/pod-name"], "tune-0");
  ws["metadata"]["annotations"]["kaito.sh/enablelb"] = "True";
  EXPECT_EQ(build_service(ws, f)["spec"]["type"], "LoadBalancer");
  json headless = build_headless_service(ws, f);
  EXPECT_EQ(headless["metadata"]["name"], "tune-headless");
  EXPECT_EQ(headless["spec"]["clusterIP"], "None");
}

TEST(WorkspaceDesired, ClaimAndReleasePatches) {
  auto f = *read_workspace_facts(tuning_ws(), nullptr);
  json node = {
      {"metadata", {{"name", "m"}, {"resourceVersion", "42"}, {"labels", {{"pool", "x"}}}}}};
  json claim = claim_patch(f, node);
  EXPECT_EQ(claim["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(claim["metadata"]["labels"], json({{"apps", "tune"},
                                               {"kaito.sh/workspace", "tune"},
                                               {"kaito.sh/workspacenamespace", "ns1"}}));
  EXPECT_EQ(claim["metadata"]["annotations"]["kaito.sh/claimed-labels"], "apps");
  node.merge_patch(claim);
  json release = release_patch(node);
  EXPECT_EQ(release["metadata"]["labels"], json({{"apps", nullptr},
                                                 {"kaito.sh/workspace", nullptr},
                                                 {"kaito.sh/workspacenamespace", nullptr}}));
  node.merge_patch(release);
  EXPECT_EQ(node["metadata"]["labels"], json({{"pool", "x"}}));
  EXPECT_EQ(missing_machines_message(f, 0, 0),
            "need 1 more machine(s) of instance type Standard_NC12s_v3 (0 of 1 ready and claimed, "
            "0 free)");
}

TEST(WorkspaceStatus, ConditionsMoveLastTransitionTimeOnlyOnAFlip) {
  json conds;
  set_condition(conds, {"A", "Unknown", "r", "m"}, 1, "t1");
  set_condition(conds, {"A", "Unknown", "r2", "m2"}, 2, "t2");
  EXPECT_EQ(conds[0]["lastTransitionTime"], "t1");
  EXPECT_EQ(conds[0]["reason"], "r2");
  EXPECT_EQ(conds[0]["observedGeneration"], 2);
  set_condition(conds, {"A", "True", "r3", ""}, 2, "t3");
  EXPECT_EQ(conds[0]["lastTransitionTime"], "t3");
  EXPECT_EQ(conds.size(), 1u);
}

TEST(WorkspaceStatus, TuningProgression) {
  auto f = *read_workspace_facts(tuning_ws(), nullptr);
  workspace_observation o;
  o.first_visit = true;
  json st = compute_workspace_status(f, json::object(), o, "t0");
  for (const auto& c : st["conditions"]) EXPECT_EQ(c["status"], "Unknown") << c.dump();
  EXPECT_EQ(st["conditions"].size(), 5u);
  EXPECT_EQ(st["state"], "Pending");
  o.first_visit = false;
  st = compute_workspace_status(f, st, o, "t1");
  EXPECT_EQ(condition_status(st["conditions"], "ResourceReady"), "False");
  EXPECT_EQ(condition_status(st["conditions"], "JobStarted"), "Unknown");
  o.claimed_nodes = {"m"};
  o.ready_claimed = 1;
  o.job = json{{"status", {{"active", 1}}}};
  st = compute_workspace_status(f, st, o, "t2");
  EXPECT_EQ(condition_status(st["conditions"], "ResourceReady"), "True");
  EXPECT_EQ(condition_status(st["conditions"], "JobStarted"), "True");
  EXPECT_EQ(st["state"], "Running");
  EXPECT_EQ(find_condition(st["conditions"], "ResourceReady")->value("lastTransitionTime", ""),
            "t2");
  o.job = json{
      {"status", {{"succeeded", 1}, {"conditions", {{{"type", "Complete"}, {"status", "True"}}}}}}};
  st = compute_workspace_status(f, st, o, "t3");
  EXPECT_EQ(st["state"], "Succeeded");
  EXPECT_EQ(find_condition(st["conditions"], "ResourceReady")->value("lastTransitionTime", ""),
            "t2");
  EXPECT_EQ(find_condition(st["conditions"], "WorkspaceSucceeded")->value("reason", ""),
            "workspaceSucceeded");
  // Failed pods alone do not fail the Workspace; the Job's Failed condition does.
  o.job = json{{"status", {{"failed", 2}, {"active", 1}}}};
  EXPECT_EQ(compute_workspace_status(f, json::object(), o, "t")["state"], "Running");
  o.job = json{{"status",
                {{"failed", 7},
                 {"conditions",
                  {{{"type", "Failed"},
                    {"status", "True"},
                    {"message", "Job has reached the specified backoff limit"}}}}}}};
  st = compute_workspace_status(f, json::object(), o, "t");
  EXPECT_EQ(st["state"], "Failed");
  EXPECT_EQ(find_condition(st["conditions"], "JobStarted")->value("message", ""),
            "tuning job failed: Job has reached the specified backoff limit");
}

TEST(WorkspaceStatus, InferenceReadyThenNotReady) {
  json ws = tuning_ws();
  ws.erase("tuning");
  ws["inference"] = json::object();
  ws["resource"]["count"] = 2;
  auto f = *read_workspace_facts(ws, nullptr);
  workspace_observation o;
  o.claimed_nodes = {"a", "b"};
  o.ready_claimed = 2;
  o.statefulset = json{{"status", {{"readyReplicas", 1}}}};
  json st = compute_workspace_status(f, json::object(), o, "t");
  EXPECT_EQ(st["state"], "Pending");
  EXPECT_EQ(condition_status(st["conditions"], "InferenceReady"), "False");
  o.statefulset = json{{"status", {{"readyReplicas", 2}}}};
  st = compute_workspace_status(f, st, o, "t");
  EXPECT_EQ(st["state"], "Ready");
  EXPECT_EQ(condition_status(st["conditions"], "WorkspaceSucceeded"), "True");
  o.statefulset = json{{"status", {{"readyReplicas", 1}}}};
  st = compute_workspace_status(f, st, o, "t");
  EXPECT_EQ(st["state"], "NotReady");
  f.deleting = true;
  st = compute_workspace_status(f, st, o, "t");
  EXPECT_EQ(condition_status(st["conditions"], "WorkspaceDeleting"), "True");
}

json pod(const std::string& name, const std::string& phase, bool ready = false) {
  json p = {
      {"metadata", {{"name", name}, {"uid", name + "-uid"}}},
      {"spec", {{"nodeName", "m"}, {"containers", json::array({{{"name", "c"}, {"image", "i"}}})}}},
      {"status", {{"phase", phase}}}};
  if (ready) p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", "True"}}});
  return p;
}

TEST(JobStatus, CountsAndConditions) {
  json job = {{"spec", {{"backoffLimit", 1}}}};
  json st = job_status_from_pods(job, {pod("j-0", "Failed"), pod("j-1", "Running", true)}, "t");
  EXPECT_EQ(st["failed"], 1);
  EXPECT_EQ(st["active"], 1);
  EXPECT_EQ(st["ready"], 1);
  EXPECT_EQ(st["startTime"], "t");
  EXPECT_FALSE(st.contains("conditions"));
  st = job_status_from_pods(job, {pod("j-0", "Failed"), pod("j-1", "Failed")}, "t2");
  EXPECT_EQ(condition_status(st["conditions"], "Failed"), "True");
  EXPECT_EQ(find_condition(st["conditions"], "Failed")->value("reason", ""),
            "BackoffLimitExceeded");
  st = job_status_from_pods(job, {pod("j-0", "Succeeded")}, "t3");
  EXPECT_EQ(condition_status(st["conditions"], "Complete"), "True");
  EXPECT_EQ(st["completionTime"], "t3");
  EXPECT_FALSE(st.contains("active"));
}

TEST(StatefulSetStatus, ReadyAndRevisions) {
  json sts = {
      {"metadata", {{"name", "s"}, {"generation", 2}}},
      {"spec", {{"replicas", 2}, {"template", {{"spec", {{"containers", json::array()}}}}}}}};
  std::string rev = statefulset_revision(sts);
  EXPECT_EQ(rev.rfind("s-", 0), 0u);
  json a = pod("s-0", "Running", true), b = pod("s-1", "Pending");
  a["metadata"]["labels"] = {{"controller-revision-hash", rev}};
  b["metadata"]["labels"] = {{"controller-revision-hash", rev}};
  json st = statefulset_status_from_pods(sts, {a, b});
  EXPECT_EQ(st["replicas"], 2);
  EXPECT_EQ(st["readyReplicas"], 1);
  EXPECT_EQ(st["updatedReplicas"], 2);
  EXPECT_EQ(st["currentRevision"], rev);
  EXPECT_EQ(st["observedGeneration"], 2);
  sts["spec"]["template"]["spec"]["x"] = 1;
  EXPECT_NE(statefulset_revision(sts), rev);
}

TEST(PodStatus, ReportsBecomeKubeletLikeStatus) {
  json p = pod("p", "Pending");
  pod_report r;
  r.uid = "p-uid";
  r.phase = pod_phase_value::running;
  r.ready = true;
  r.started_at = std::chrono::system_clock::from_time_t(1700000000);
  json st = pod_status_from_report(p, r, "10.0.0.1", "now");
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["hostIP"], "10.0.0.1");
  EXPECT_EQ(st["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(st["containerStatuses"][0]["state"]["running"]["startedAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(st["containerStatuses"][0]["name"], "c");
  EXPECT_EQ(condition_status(st["conditions"], "Ready"), "True");
  EXPECT_EQ(condition_status(st["conditions"], "Initialized"), "True");
  p["status"] = st;
  // Same report again: identical status (so no write).
  EXPECT_EQ(pod_status_from_report(p, r, "10.0.0.1", "later"), st);
  // The container ends and is restarted at once: terminated while the pod stays Running.
  r.ready = false;
  r.container = container_state_value::terminated;
  r.exit_code = 2;
  r.message = "boom";
  r.finished_at = std::chrono::system_clock::from_time_t(1700000060);
  json ended = pod_status_from_report(p, r, "10.0.0.1", "later");
  EXPECT_EQ(ended["phase"], "Running");
  const json& t = ended["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(t["exitCode"], 2);
  EXPECT_EQ(t["reason"], "Error");
  EXPECT_EQ(t["message"], "boom");
  EXPECT_EQ(t["finishedAt"], "2023-11-14T22:14:20Z");
  EXPECT_EQ(ended["containerStatuses"][0]["started"], false);
  EXPECT_EQ(condition_status(ended["conditions"], "ContainersReady"), "False");
  // Waiting in CrashLoopBackOff: the restart count is still the old one; lastState says how the
  // container ended.
  p["status"] = ended;
  r.container = container_state_value::waiting;
  r.reason = "CrashLoopBackOff";
  r.message = "back-off 10s restarting failed container=c pod=p_default(p-uid)";
  r.last = container_termination{2, "Error", "boom", r.started_at, r.finished_at};
  json waiting = pod_status_from_report(p, r, "10.0.0.1", "later");
  EXPECT_EQ(waiting["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(waiting["containerStatuses"][0]["state"]["waiting"]["message"], r.message);
  EXPECT_EQ(waiting["containerStatuses"][0]["restartCount"], 0);
  EXPECT_EQ(waiting["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 2);
  EXPECT_EQ(waiting["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"],
            "2023-11-14T22:14:20Z");
  // The restart: running again, restart count 1, lastState kept, startTime the pod's first.
  p["status"] = waiting;
  r.container = container_state_value::running;
  r.restart_count = 1;
  r.ready = true;
  r.reason.clear();
  r.message.clear();
  r.last.reset();
  r.started_at = std::chrono::system_clock::from_time_t(1700000070);
  json st2 = pod_status_from_report(p, r, "10.0.0.1", "later");
  EXPECT_EQ(st2["containerStatuses"][0]["restartCount"], 1);
  EXPECT_EQ(st2["containerStatuses"][0]["state"]["running"]["startedAt"], "2023-11-14T22:14:30Z");
  EXPECT_EQ(st2["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 2);
  EXPECT_EQ(st2["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(condition_status(st2["conditions"], "ContainersReady"), "True");
  r.phase = pod_phase_value::failed;
  r.exit_code = 137;
  r.reason = "OOMKilled";
  json st3 = pod_status_from_report(p, r, "", "end");
  EXPECT_EQ(st3["phase"], "Failed");
  EXPECT_EQ(st3["containerStatuses"][0]["state"]["terminated"]["exitCode"], 137);
  EXPECT_EQ(st3["containerStatuses"][0]["state"]["terminated"]["reason"], "OOMKilled");
}

TEST(Nodes, LabelsAndFacts) {
  node_info n;
  n.name = "gpu-1";
  auto l = node_labels(n);
  EXPECT_EQ(l["node.kubernetes.io/instance-type"], "kaito-cpu");
  EXPECT_EQ(l["kaito.sh/instance-type-any"], "true");
  EXPECT_EQ(l["kaito.sh/machine"], "true");
  EXPECT_EQ(l["kubernetes.io/hostname"], "gpu-1");
  n.instance_type = "Standard_NC6s_v3";
  l = node_labels(n);
  EXPECT_EQ(l["node.kubernetes.io/instance-type"], "Standard_NC6s_v3");
  EXPECT_FALSE(l.count("kaito.sh/instance-type-any"));
  json node = {{"status",
                {{"allocatable", {{"kaito.sh/worker-slots", "4"}, {"nvidia.com/gpu", "8"}}},
                 {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  EXPECT_EQ(node_worker_slots(node), 4);
  EXPECT_EQ(node_gpus(node), 8);
  EXPECT_TRUE(node_ready(node));
  EXPECT_FALSE(node_ready(json("garbage")));
  EXPECT_EQ(node_worker_slots(json::array()), 1);
}

TEST(Enqueue, EventsMapToReconcileKeys) {
  json job = {
      {"metadata",
       {{"name", "tune"},
        {"namespace", "ns1"},
        {"labels", {{"kaito.sh/workspace", "tune"}, {"kaito.sh/workspacenamespace", "ns1"}}}}}};
  EXPECT_EQ(workspace_keys_for(job), std::vector<std::string>({"ns1/tune"}));
  json pod = {{"metadata",
               {{"name", "tune-0"},
                {"namespace", "ns1"},
                {"ownerReferences",
                 json::array({{{"kind", "Job"}, {"name", "tune"}, {"controller", true}}})}}}};
  EXPECT_EQ(job_keys_for(pod), std::vector<std::string>({"ns1/tune"}));
  EXPECT_TRUE(statefulset_keys_for(pod).empty());
  json cr = {{"metadata",
              {{"name", "tune-abcde"},
               {"namespace", "ns1"},
               {"labels", {{"workspace.kaito.io/name", "tune"}}}}}};
  EXPECT_EQ(workspace_keys_for(cr), std::vector<std::string>({"ns1/tune"}));
  EXPECT_TRUE(workspace_keys_for(json("x")).empty());
  json ready = {
      {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  EXPECT_TRUE(node_event_frees_capacity(json(), ready));
  EXPECT_TRUE(node_event_frees_capacity(ready, json()));
  EXPECT_FALSE(node_event_frees_capacity(ready, ready));
  EXPECT_EQ(split_key("a/b"), std::make_pair(std::string("a"), std::string("b")));
  EXPECT_EQ(make_key("", "n"), "n");
}

}  // namespace
}  // namespace kaito::k8s::controllers
