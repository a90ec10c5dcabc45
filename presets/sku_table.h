// sku_table: GPU instance types per cloud (presets/skus/<cloud>.yaml), as Kaito's pkg/sku tables.
//
// File format: `cloud: azure` and `skus:` a list of {instance_type, gpu_count, total_gpu_memory
// (quantity, sum over the node's GPUs), gpu_model, compute_capability ("8.0"; absent for
// non-NVIDIA), nvme (bool), source ("head" default, or "v0.4.6" for entries only older Kaito
// accepted)}. parse_sku_file is strict like parse_preset: unknown keys and bad values are errors
// naming file, line:column and field path (skus[3].gpu_count).
//
// Thread-safety: values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "protocol/api/catalog.h"

namespace kaito::presets {

struct sku {
  api::sku_facts facts;            // name, cloud, gpu_count, total_gpu_memory, gpu_model
  std::string compute_capability;  // "8.0"; empty when not NVIDIA
  bool nvme = false;
  std::string source = "head";  // "head" or "v0.4.6"

  // Memory per GPU, bytes.
  int64_t per_gpu_memory() const {
    return facts.gpu_count > 0 ? facts.total_gpu_memory / facts.gpu_count : 0;
  }
};

result<std::vector<sku>> parse_sku_file(std::string_view yaml_text, const std::string& file);

}  // namespace kaito::presets
