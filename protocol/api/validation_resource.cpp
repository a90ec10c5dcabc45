// resource.* admission rules (Kaito: ResourceSpec.validateCreateWithInference,
// validateCreateWithTuning, validateUpdate).
#include <map>
#include <optional>

#include "protocol/api/json_fields.h"
#include "protocol/api/k8s_names.h"
#include "protocol/api/validation_internal.h"

namespace kaito::api::detail {

namespace {

// metav1.LabelSelectorAsMap: matchLabels plus `In` expressions with exactly one value.
result<std::map<std::string, std::string>> selector_as_map(
    const std::optional<label_selector>& sel) {
  std::map<std::string, std::string> out;
  if (!sel) return out;
  if (sel->match_labels) out = *sel->match_labels;
  if (sel->match_expressions) {
    for (const auto& e : *sel->match_expressions) {
      std::string op = e.op.value_or("");
      if (op == "In") {
        if (!e.values || e.values->size() != 1)
          return invalid_argument(
              "operator \"In\" without a single value cannot be converted "
              "into the old label selector format");
        out[e.key.value_or("")] = (*e.values)[0];
      } else if (op == "NotIn" || op == "Exists" || op == "DoesNotExist") {
        return invalid_argument("operator \"" + op +
                                "\" cannot be converted into the old label selector format");
      } else {
        return invalid_argument("\"" + op + "\" is not a valid selector operator");
      }
    }
  }
  return out;
}

json partition_json(const std::optional<partition_spec>& p) {
  if (!p) return nullptr;
  json j = json::object();
  put(j, "mode", p->mode);
  put(j, "profile", p->profile);
  put(j, "count", p->count);
  return j;
}

}  // namespace

void resource_create_with_inference(const workspace& ws, const validation_options& opt,
                                    field_errors& errs) {
  const inference_spec& inf = *ws.inference;
  const resource_spec r = ws.resource.value_or(resource_spec{});
  std::string preset_name;
  const preset_facts* preset = nullptr;
  if (inf.preset) {
    preset_name = to_lower(inf.preset->name.value_or(""));
    preset = opt.presets ? opt.presets->find_preset(preset_name) : nullptr;
    if (!preset || preset->deprecated || !preset->supports_inference) {
      if (preset && preset->deprecated)
        errs.generic("inference.preset.name",
                     "Model " + preset_name + " is deprecated and no longer supported");
      return;  // inference_create reports the unsupported name
    }
  }
  auto labels = selector_as_map(r.label_selector_);
  if (!labels.ok()) {
    errs.generic("resource.labelSelector", labels.error().message());
    return;  // as Kaito does
  }
  std::string instance_type = r.instance_type.value_or("");
  const sku_facts* sku = nullptr;
  int64_t machine_count = r.count.value_or(1);
  if (opt.node_auto_provisioning) {
    if (r.partition) {
      errs.generic("resource.partition",
                   "GPU partitioning is only supported with BYO nodes "
                   "(disableNodeAutoProvisioning=true)");
      return;
    }
    sku = opt.presets ? opt.presets->find_sku(instance_type) : nullptr;
    if (!sku) {
      bool azure_series =
          instance_type.rfind("Standard_N", 0) == 0 || instance_type.rfind("Standard_D", 0) == 0;
      if (opt.cloud_provider != "azure" || !azure_series) {
        std::string supported;
        if (opt.presets) supported = join_messages(opt.presets->sku_names());
        errs.invalid(
            "resource.instanceType", instance_type,
            "Unsupported instance type " + instance_type + ". Supported SKUs: " + supported);
      }
    }
  }
  // GPU memory: Kaito checks it for the transformers runtime under NAP (vLLM estimates nodes).
  if (preset && sku && workspace_runtime(ws) != "vllm") {
    int64_t need = preset->total_safetensor_file_size > 0 ? preset->total_safetensor_file_size
                                                          : preset->inference_total_gpu_memory;
    int64_t have = machine_count * sku->total_gpu_memory;
    if (need > 0 && have < need && !ws.has_annotation(annotations::kBypassResourceChecks)) {
      errs.invalid("resource.instanceType", instance_type,
                   "Insufficient total GPU memory: Instance type " + instance_type +
                       " has a total of " + format_binary_quantity(have) + ", but preset " +
                       preset_name + " requires at least " + format_binary_quantity(need));
    }
  }
}

void resource_create_with_tuning(const workspace& ws, field_errors& errs) {
  const resource_spec r = ws.resource.value_or(resource_spec{});
  int64_t count = r.count.value_or(1);
  if (count > 1)
    errs.invalid("resource.count", count,
                 "Tuning does not currently support multinode configurations. Please set the "
                 "node count to 1. Future support with DeepSpeed will allow this.");
  if (r.partition)
    errs.invalid("resource.partition", partition_json(r.partition),
                 "GPU partitioning is not supported for tuning workloads");
}

void resource_update(const resource_spec& old_r, const resource_spec& r,
                     const validation_options& opt, field_errors& errs) {
  if (r.count && old_r.count && *r.count != *old_r.count)
    errs.generic("resource.count", "field is immutable");
  if (partition_json(r.partition) != partition_json(old_r.partition))
    errs.generic("resource.partition", "field is immutable");
  std::string it = r.instance_type.value_or(""), old_it = old_r.instance_type.value_or("");
  if (!opt.node_auto_provisioning) {
    if (old_it.empty()) {
      if (!it.empty())
        errs.invalid("resource.instanceType", it,
                     "instanceType must be empty when node auto-provisioning is disabled (BYO "
                     "scenario)");
    } else if (!it.empty() && it != old_it) {
      errs.invalid("resource.instanceType", it, "instanceType cannot be changed once set");
    }
  } else if (it.empty()) {
    errs.required("resource.instanceType",
                  "instanceType is required when node auto-provisioning is enabled");
  } else if (!old_it.empty() && old_it != it) {
    errs.generic("resource.instanceType",
                 "instanceType cannot be changed once set when node auto-provisioning is "
                 "enabled");
  }
  auto nl = selector_as_map(r.label_selector_);
  auto ol = selector_as_map(old_r.label_selector_);
  if (!nl.ok() || !ol.ok())
    errs.generic("resource.labelSelector", "Only allow matchLabels or 'IN' matchExpression");
  else if (*nl != *ol)
    errs.generic("resource.labelSelector", "field is immutable");
}

}  // namespace kaito::api::detail
