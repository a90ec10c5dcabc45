// validate_create / validate_update: the workspace-level rules, then each area's
// (contract in protocol/api/workspace_validation.h).
#include "protocol/api/workspace_validation.h"

#include <algorithm>
#include <cctype>

#include "protocol/api/k8s_names.h"
#include "protocol/api/validation_internal.h"

namespace kaito::api {

namespace detail {

std::string ws_namespace(const workspace& ws, const validation_options& opt) {
  return ws.metadata.namespace_.value_or(opt.default_namespace);
}

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void config_map_error(const status& st, const std::string& field, const std::string& name,
                      const std::string& ns, field_errors& errs) {
  if (st.code() == status_code::unavailable) return;
  if (st.code() == status_code::not_found)
    errs.generic(field, "ConfigMap '" + name + "' specified in 'config' not found in namespace '" +
                            ns + "'");
  else
    errs.generic(
        field, "Failed to get ConfigMap '" + name + "' in namespace '" + ns + "': " + st.message());
}

}  // namespace detail

std::string workspace_runtime(const workspace& ws) {
  if (ws.tuning) return "transformers";
  return ws.annotation(annotations::kRuntime) == "transformers" ? "transformers" : "vllm";
}

namespace {

void validate_name(const workspace& ws, field_errors& errs) {
  if (!ws.metadata.name || ws.metadata.name->empty()) {
    if (!ws.metadata.generate_name)
      errs.required("metadata.name", "name or generateName is required");
    return;
  }
  auto msgs = is_dns1123_label(*ws.metadata.name);
  if (!msgs.empty()) errs.invalid("metadata.name", *ws.metadata.name, join_messages(msgs));
}

// The CRD schema's `required: [labelSelector]` under resource.
void validate_schema(const workspace& ws, field_errors& errs) {
  if (!ws.resource || !ws.resource->label_selector_) errs.required("resource.labelSelector");
}

void validate_annotations(const workspace& ws, field_errors& errs) {
  if (ws.has_annotation(annotations::kNodeImageFamily)) {
    std::string v = ws.annotation(annotations::kNodeImageFamily);
    std::string l = detail::to_lower(v);
    if (l != "ubuntu" && l != "azurelinux")
      errs.invalid(std::string("metadata.annotations[\"") + annotations::kNodeImageFamily + "\"]",
                   v,
                   "unsupported node image family " + render_value(v) +
                       ", supported values are azurelinux, ubuntu");
  }
  if (ws.has_annotation(annotations::kPerformanceMode)) {
    std::string v = ws.annotation(annotations::kPerformanceMode);
    if (v != "balanced" && v != "interactivity" && v != "throughput")
      errs.invalid(std::string("metadata.annotations[") + annotations::kPerformanceMode + "]", v,
                   render_value(v) +
                       " is not a valid performance mode; choose one of: balanced, "
                       "interactivity, throughput");
  }
  if (ws.has_annotation(annotations::kUseLocalWeights)) {
    std::string v = ws.annotation(annotations::kUseLocalWeights);
    if (v != "true" && v != "false")
      errs.invalid(std::string("metadata.annotations[") + annotations::kUseLocalWeights + "]", v,
                   render_value(v) + " must be \"true\" or \"false\"");
  }
}

}  // namespace

validation_result validate_create(const workspace& ws, const validation_options& opt) {
  field_errors errs;
  validation_result out;
  validate_name(ws, errs);
  validate_schema(ws, errs);
  if (!ws.inference && !ws.tuning)
    errs.generic("spec", "Either Inference or Tuning must be specified, not neither");
  if (ws.inference && ws.tuning)
    errs.generic("spec", "Either Inference or Tuning must be specified, but not both");
  std::string instance_type = ws.resource ? ws.resource->instance_type.value_or("") : std::string();
  if (opt.node_auto_provisioning) {
    if (instance_type.empty())
      errs.required("resource.instanceType",
                    "instanceType is required when node auto-provisioning is enabled");
  } else if (!instance_type.empty()) {
    errs.invalid("resource.instanceType", instance_type,
                 "instanceType must be empty when node auto-provisioning is disabled (BYO "
                 "scenario)");
  }
  validate_annotations(ws, errs);
  if (ws.inference) {
    detail::resource_create_with_inference(ws, opt, errs);
    detail::inference_create(ws, opt, errs);
    detail::inference_config_create(ws, opt, errs);
  }
  if (ws.tuning) {
    detail::resource_create_with_tuning(ws, errs);
    detail::tuning_create(ws, opt, errs, out.warnings);
  }
  out.errors = errs.list();
  return out;
}

validation_result validate_update(const workspace& old_ws, const workspace& ws,
                                  const validation_options& opt) {
  field_errors errs;
  validation_result out;
  validate_name(ws, errs);
  validate_schema(ws, errs);
  if (old_ws.inference.has_value() != ws.inference.has_value())
    errs.generic("inference", "Inference field cannot be toggled once set");
  if (old_ws.tuning.has_value() != ws.tuning.has_value())
    errs.generic("tuning", "Tuning field cannot be toggled once set");
  detail::resource_update(old_ws.resource.value_or(resource_spec{}),
                          ws.resource.value_or(resource_spec{}), opt, errs);
  if (ws.inference && old_ws.inference)
    detail::inference_update(*old_ws.inference, *ws.inference, errs);
  if (ws.tuning && old_ws.tuning)
    detail::tuning_update(*old_ws.tuning, *ws.tuning, errs, out.warnings);
  out.errors = errs.list();
  return out;
}

}  // namespace kaito::api
