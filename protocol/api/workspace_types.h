// workspace_types: the kaito.sh Workspace (v1alpha1 and v1beta1) as C++ structs, field for field
// as kaito-project/kaito api/v1beta1/workspace_types.go and api/v1alpha1/workspace_types.go define
// them (json names in the comments). There is no `spec:`: resource, inference, tuning and status
// sit at the top level.
//
// One struct serves both versions: `api_version` says which one it is. Fields only v1beta1 has
// (resource.partition, presetOptions.modelAccessSecret/modelWeightsPVC/modelWeightsSubPath,
// status.state/targetNodeCount/performance) stay empty in a v1alpha1 object; conversion
// (workspace.h) moves them into an annotation so nothing is lost.
//
// Every field that JSON may omit is an optional, and every struct keeps the keys it does not know
// in `extra`, so decode -> encode gives back the same JSON. Defaults are not applied by decoding;
// apply_defaults (workspace.h) applies Kaito's CRD defaults explicitly. Schemaless Kubernetes
// types (PodTemplateSpec, VolumeSource) are kept as raw JSON, as the CRD preserves them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/api/meta.h"

namespace kaito::api {

inline constexpr const char* kGroup = "kaito.sh";
inline constexpr const char* kV1alpha1 = "kaito.sh/v1alpha1";
inline constexpr const char* kV1beta1 = "kaito.sh/v1beta1";
inline constexpr const char* kKind = "Workspace";

struct label_selector_requirement {
  std::optional<std::string> key;
  std::optional<std::string> op;  // operator: In | NotIn | Exists | DoesNotExist
  std::optional<std::vector<std::string>> values;
  json extra = json::object();
};

struct label_selector {                                                      // metav1.LabelSelector
  std::optional<std::map<std::string, std::string>> match_labels;            // matchLabels
  std::optional<std::vector<label_selector_requirement>> match_expressions;  // matchExpressions
  json extra = json::object();
};

struct partition_spec {                // v1beta1 only
  std::optional<std::string> mode;     // "mig" | "accelerator"
  std::optional<std::string> profile;  // "1g.10gb"
  std::optional<int64_t> count;
  json extra = json::object();
};

struct resource_spec {
  std::optional<int64_t> count;  // default 1 (deprecated in v1beta1)
  std::optional<std::string>
      instance_type;  // instanceType; v1alpha1 default Standard_NC24ads_A100_v4
  std::optional<label_selector> label_selector_;            // labelSelector (required)
  std::optional<std::vector<std::string>> preferred_nodes;  // preferredNodes
  std::optional<partition_spec> partition;                  // v1beta1 only
  json extra = json::object();
};

struct preset_options {
  std::optional<std::string> image;
  std::optional<std::vector<std::string>> image_pull_secrets;  // imagePullSecrets
  std::optional<std::string> model_access_secret;              // modelAccessSecret (v1beta1)
  std::optional<std::string> model_weights_pvc;                // modelWeightsPVC (v1beta1)
  std::optional<std::string> model_weights_sub_path;           // modelWeightsSubPath (v1beta1)
  json extra = json::object();
};

struct preset_spec {
  std::optional<std::string> name;
  std::optional<std::string> access_mode;  // accessMode: public (default) | private
  std::optional<preset_options> options;   // presetOptions
  json extra = json::object();
};

struct data_source {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> urls;
  std::optional<json> volume_source;  // volumeSource (corev1.VolumeSource, raw)
  std::optional<std::string> image;
  std::optional<std::vector<std::string>> image_pull_secrets;  // imagePullSecrets
  json extra = json::object();
};

struct data_destination {
  std::optional<json> volume_source;  // volumeSource (raw)
  std::optional<std::string> image;
  std::optional<std::string> image_push_secret;  // imagePushSecret
  json extra = json::object();
};

struct adapter_spec {
  std::optional<data_source> source;
  std::optional<std::string> strength;  // a float as a string, "0".."1"
  json extra = json::object();
};

struct inference_spec {
  std::optional<preset_spec> preset;
  std::optional<json> template_;  // template (corev1.PodTemplateSpec, raw)
  std::optional<std::string> config;
  std::optional<std::vector<adapter_spec>> adapters;
  json extra = json::object();
};

struct tuning_spec {
  std::optional<preset_spec> preset;
  std::optional<std::string> method;  // lora | qlora
  std::optional<std::string> config;
  std::optional<data_source> input;
  std::optional<data_destination> output;
  json extra = json::object();
};

struct workspace_status {
  std::optional<std::vector<std::string>> worker_nodes;  // workerNodes
  std::optional<std::vector<condition>> conditions;
  std::optional<std::string> state;          // v1beta1: Pending|Ready|NotReady|Running|...
  std::optional<int64_t> target_node_count;  // targetNodeCount (v1beta1)
  std::optional<json> performance;           // v1beta1, raw {metrics: {...}}
  json extra = json::object();
};

struct workspace {
  std::string api_version = kV1beta1;
  std::string kind = kKind;
  object_meta metadata;
  bool metadata_present = true;  // false only when a decoded document had no `metadata` key
  std::optional<resource_spec> resource;
  std::optional<inference_spec> inference;
  std::optional<tuning_spec> tuning;
  std::optional<workspace_status> status;
  json extra = json::object();

  bool is_v1alpha1() const { return api_version == kV1alpha1; }
  std::string name() const { return metadata.name.value_or(""); }
  std::string annotation(const std::string& key) const;
  bool has_annotation(const std::string& key) const;
};

// Condition types (api/v1beta1/condition_types.go).
namespace condition_types {
inline constexpr const char* kNodeClaimReady = "NodeClaimReady";
inline constexpr const char* kNodesReady = "NodesReady";
inline constexpr const char* kResourceReady = "ResourceReady";
inline constexpr const char* kInferenceReady = "InferenceReady";
inline constexpr const char* kJobStarted = "JobStarted";
inline constexpr const char* kWorkspaceSucceeded = "WorkspaceSucceeded";
inline constexpr const char* kWorkspaceDeleting = "WorkspaceDeleting";
inline constexpr const char* kBenchmarkCompleted = "BenchmarkCompleted";
inline constexpr const char* kScalingDownCompleted = "ScalingDownCompleted";
inline constexpr const char* kModelMirrorReady = "ModelMirrorReady";
}  // namespace condition_types

// Annotations (api/v1beta1/labels.go).
namespace annotations {
inline constexpr const char* kRuntime = "kaito.sh/runtime";  // vllm | transformers
inline constexpr const char* kEnableLB = "kaito.sh/enablelb";
inline constexpr const char* kBypassResourceChecks = "kaito.sh/bypass-resource-checks";
inline constexpr const char* kNodeImageFamily = "kaito.sh/node-image-family";
inline constexpr const char* kNodeClassName = "kaito.sh/node-class-name";
inline constexpr const char* kDisableBenchmark = "kaito.sh/disable-benchmark";
inline constexpr const char* kPerformanceMode = "kaito.sh/performance-mode";
inline constexpr const char* kUseLocalWeights = "kaito.sh/use-local-weights";
// Set by kaito-cpp's conversion: JSON of the v1beta1-only fields of a v1alpha1 object.
inline constexpr const char* kV1beta1Fields = "kaito.sh/v1beta1-fields";
}  // namespace annotations

}  // namespace kaito::api
