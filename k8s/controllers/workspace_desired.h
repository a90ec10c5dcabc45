// workspace_desired: the objects a Workspace should own, as pure functions of (Workspace JSON,
// preset catalog). No I/O: unit-tested without a server (tests/k8s/controllers/
// workspace_desired_test.cpp).
//
// The tuning Job's container runs `kaito worker --task=tune` (actors/tune_unit.h: download
// tuning.input.urls, train with tuning.method on the preset's model, push the adapter to
// tuning.output.image) with Kaito's volumes: the imagePushSecret's .dockerconfigjson at
// /root/.docker/config.json, the tuning.config ConfigMap at /mnt/config, emptyDirs at /mnt/data
// and /mnt/results. With the annotation kaito.sh/self-test-seconds: N (an integer in 0..86400) it
// runs the device burn-in `--task=self-test --duration-seconds=N` instead (a node check; the e2e
// tests of the runtime use it). The inference StatefulSet's container runs `kaito worker
// --task=serve --preset=<preset> --port=5000` (actors/serve_unit.h: the preset's model served
// with Kaito's endpoints; inference.adapters passed as --adapter-image, pulled by the worker and,
// as Kaito's runtimes do, served as LoRA modules requested by the adapter's name (the vllm
// runtime, the default: --runtime=vllm) or merged at their strengths (annotation
// kaito.sh/runtime: transformers); inference.config, when set, mounted at /mnt/config, whose
// inference_config.yaml the worker applies: actors/inference_config.h; the preset's chat template
// name as --chat-template, for a model folder without one), or with that annotation
// `--task=serve-self-test`. Everything else (names, labels, annotations, owner references, node
// selector, GPU requests from the SKU table, services) has Kaito's shape (kaito.md 3.3, 3.4).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::presets {
class preset_catalog;
}

namespace kaito::k8s::controllers {

using json = nlohmann::json;

// What the builders need to know about one Workspace, read from its JSON (defaults applied:
// resource.count 1).
struct workspace_facts {
  std::string ns, name, uid, api_version;
  int64_t generation = 0;
  bool tuning = false;                              // else inference
  std::string instance_type;                        // "" : any machine
  std::map<std::string, std::string> match_labels;  // resource.labelSelector.matchLabels
  int64_t target_node_count = 1;                    // tuning: 1; inference: resource.count
  int64_t gpus_per_node = 0;     // the SKU's GPU count; 0 when the SKU is unknown
  std::string preset;            // inference.preset.name / tuning.preset.name
  std::string chat_template;     // the preset's (presets/chat_templates), "" for none / unknown
  std::string tool_call_parser;  // the preset's, "" when it names none
  int64_t weights_bytes = 0;     // the preset's weights as stored; 0 when unknown
  bool deleting = false;
};

// invalid_argument naming the field when the Workspace lacks what a reconcile needs (name,
// namespace, uid, exactly one of inference/tuning).
result<workspace_facts> read_workspace_facts(const json& ws, const presets::preset_catalog* cat);

// N of kaito.sh/self-test-seconds, nullopt without the annotation (a real tuning run);
// invalid_argument naming metadata.annotations[kaito.sh/self-test-seconds] unless an integer
// in 0..86400.
result<std::optional<int>> self_test_seconds(const json& ws);

// sha256 (hex) over JSON(resource) "\n" JSON(inference) "\n" JSON(tuning) "\n", as Kaito's
// computeHash (null for an absent field).
std::string workspace_hash(const json& ws);

// ControllerRevision `<ws>-<hash[:5]>`: label workspace.kaito.io/name, annotation
// workspace.kaito.io/hash, data {resource, inference, tuning}, revision, owned by the Workspace.
json build_controller_revision(const json& ws, const std::string& hash, int64_t revision);

// The pod template shared by the Job and the StatefulSet (container named after the Workspace).
json build_pod_template(const workspace_facts& f, const std::vector<std::string>& args);

// The tuning ConfigMap a Job mounts at /mnt/config: tuning.config, else the method's default
// template, "qlora-params-template" / "lora-params-template" (Kaito copies it from its release
// namespace into the Workspace's: default_tuning_config_copy).
std::string tuning_config_name(const json& ws);
// That copy: the template's data under its name in the Workspace's namespace, labelled
// kaito.sh/workspace-default-config; no owner, as Workspaces of a namespace share it.
json default_tuning_config_copy(const json& release_config_map, const workspace_facts& f);

// Job `<ws>` (tuning).
json build_tuning_job(const json& ws, const workspace_facts& f, int64_t revision,
                      std::optional<int> self_test);
// StatefulSet `<ws>` (inference). Its container has Kaito's probes on GET /health:5000, every
// kProbePeriodSeconds with a 5 s timeout: startupProbe with startup_failure_threshold's budget,
// then livenessProbe (3 misses restart it) and readinessProbe (3 misses take it out of the
// Service). Without Kaito's initial delays (600 s / 30 s): the startup probe holds the others.
json build_inference_statefulset(const json& ws, const workspace_facts& f, int64_t revision);

inline constexpr int32_t kProbePeriodSeconds = 10;
// Checks the startup probe may miss: Kaito's budget of 15 min + 18 s per GiB of weights, within
// 30..180 min, in periods of kProbePeriodSeconds.
int32_t startup_failure_threshold(int64_t weights_bytes);
// Service `<ws>` (ClusterIP, or LoadBalancer with kaito.sh/enablelb: "True") and `<ws>-headless`.
json build_service(const json& ws, const workspace_facts& f);
json build_headless_service(const json& ws, const workspace_facts& f);

// The labels a claim puts on a Node: matchLabels + kaito.sh/workspace +
// kaito.sh/workspacenamespace.
std::map<std::string, std::string> claim_labels(const workspace_facts& f);
// Merge patch claiming `node` for the workspace, guarded by the node's resourceVersion.
json claim_patch(const workspace_facts& f, const json& node);
// Merge patch removing the claim labels (those recorded in kaito.sh/claimed-labels, plus the
// two workspace labels), guarded by the node's resourceVersion.
json release_patch(const json& node);

// "need 2 more machine(s) of instance type Standard_NC6s_v3 (1 of 3 ready and claimed, 0 free)".
std::string missing_machines_message(const workspace_facts& f, int64_t have, int64_t free_count);

}  // namespace kaito::k8s::controllers
