// workspace_validation: Kaito's Workspace admission webhook, rule for rule
// (api/v1beta1/workspace_validation.go, tuning_config_validation.go,
// inference_config_validation.go; reference: shared/reference/kaito.md §1.9).
//
// validate_create(ws) runs the CREATE rules, validate_update(old, ws) the UPDATE rules; both
// return every violation (never stopping at the first), each a field_error with the JSON field
// path and Kaito's sentence; invalid_status (field_errors.h) turns them into the one 422 Status.
// Callers apply the CRD defaults first (apply_defaults), as the API server does before admission.
// One rule set serves both versions (the v1beta1 webhook's, i.e. the storage version's).
//
// Facts about presets and SKUs come from the catalog interface (catalog.h). ConfigMaps come from an
// optional lookup: without one (offline) the ConfigMap-dependent checks are skipped; with one, a
// missing ConfigMap (not_found) is an error. Cluster-only checks (BYO node listing, CSI drivers)
// are not done.
//
// Where kaito-cpp differs from Kaito (documented, deliberate):
//  - Field paths are JSON paths ("tuning.method"), not knative's Go names ("tuning.Method").
//  - Per-adapter checks (name, source, strength) run on create as well as on update.
//  - tuning.output.image references that do not parse are a warning, not an error: Kaito's own
//    seed example (examples/fine-tuning/kaito_workspace_tuning_phi_3.yaml) carries the placeholder
//    `ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1`, which ParseDockerRef rejects, and the seed
//    must validate. Input and adapter image references are errors, as in Kaito.
//  - When a preset has no TotalSafeTensorFileSize the GPU-memory check falls back to its
//    inference total GPU memory requirement (Kaito v0.4.6's figure) instead of skipping.
//
// Thread-safety: pure functions over their inputs; the catalog must be thread-safe (it is).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/api/catalog.h"
#include "protocol/api/field_errors.h"
#include "protocol/api/workspace_types.h"

namespace kaito::api {

struct config_map {
  std::string name;
  std::string namespace_;
  std::map<std::string, std::string> data;
};

// The ConfigMap, or: not_found when it does not exist (reported as Kaito reports it);
// unavailable when the caller cannot know (offline: the check is skipped); any other error is
// reported as "Failed to get ConfigMap '<name>' in namespace '<ns>': <message>".
using config_map_lookup =
    std::function<result<config_map>(const std::string& ns, const std::string& name)>;

struct validation_options {
  const catalog* presets = nullptr;      // required
  config_map_lookup config_maps;         // empty: ConfigMap checks skipped
  bool node_auto_provisioning = true;    // false: BYO (feature gate disableNodeAutoProvisioning)
  std::string cloud_provider = "azure";  // CLOUD_PROVIDER: azure lets unknown Standard_N*/D* pass
  std::string release_namespace = "kaito-workspace";  // where the default templates live
  std::string default_namespace = "default";  // the Workspace's namespace when metadata has none
};

struct validation_result {
  std::vector<field_error> errors;
  std::vector<std::string> warnings;  // "tuning.output.image: ..." lines
  bool ok() const { return errors.empty(); }
};

validation_result validate_create(const workspace& ws, const validation_options& opt);
validation_result validate_update(const workspace& old_ws, const workspace& ws,
                                  const validation_options& opt);

// The tuning ConfigMap rules over the text of its training_config.yaml key (sections allowlist,
// load_in_4bit/8bit bool-or-null and exclusive, lora vs quantization, qlora needs 4/8 bit,
// TrainingArguments.output_dir under /mnt). `method` is lower-case lora|qlora. Errors carry
// field "tuning.config".
std::vector<field_error> validate_tuning_config(const std::string& training_config_yaml,
                                                const std::string& method,
                                                const std::string& cm_name,
                                                const std::string& cm_namespace);

// The inference ConfigMap rule over inference_config.yaml: vllm.max-model-len must be an integer
// no larger than the preset's model_token_limit (when > 0).
std::vector<field_error> validate_inference_config(const std::string& inference_config_yaml,
                                                   const preset_facts* preset);

// "vllm" or "transformers": annotation kaito.sh/runtime, vllm by default (feature gate vLLM on).
std::string workspace_runtime(const workspace& ws);

}  // namespace kaito::api
