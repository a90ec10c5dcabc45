// Internal to protocol/api: the per-area admission checks that validate_create/validate_update
// (workspace_validation.cpp) combine. Each appends to `errs` (and `warnings`) and never stops
// early unless Kaito does.
#pragma once

#include <string>
#include <vector>

#include "protocol/api/field_errors.h"
#include "protocol/api/workspace_validation.h"

namespace kaito::api::detail {

std::string ws_namespace(const workspace& ws, const validation_options& opt);
std::string to_lower(std::string s);
// A failed ConfigMap lookup: not_found and other errors reported, unavailable skipped.
void config_map_error(const status& st, const std::string& field, const std::string& name,
                      const std::string& ns, field_errors& errs);

// resource (validation_resource.cpp)
void resource_create_with_inference(const workspace& ws, const validation_options& opt,
                                    field_errors& errs);
void resource_create_with_tuning(const workspace& ws, field_errors& errs);
void resource_update(const resource_spec& old_r, const resource_spec& r,
                     const validation_options& opt, field_errors& errs);

// inference (validation_inference.cpp)
void inference_create(const workspace& ws, const validation_options& opt, field_errors& errs);
void inference_config_create(const workspace& ws, const validation_options& opt,
                             field_errors& errs);
void inference_update(const inference_spec& old_i, const inference_spec& i, field_errors& errs);
void adapters_check(const std::vector<adapter_spec>& adapters, field_errors& errs);

// tuning (validation_tuning.cpp)
void tuning_create(const workspace& ws, const validation_options& opt, field_errors& errs,
                   std::vector<std::string>& warnings);
void tuning_update(const tuning_spec& old_t, const tuning_spec& t, field_errors& errs,
                   std::vector<std::string>& warnings);
void data_source_create(const data_source& s, const std::string& path, field_errors& errs);

}  // namespace kaito::api::detail
