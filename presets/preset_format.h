// preset_format: how `kaito presets` shows presets: a kubectl-style table, YAML and JSON.
//
// presets_table: left-aligned columns separated by three spaces, upper-case headers, no trailing
// spaces (kubectl's tabwriter). Columns: NAME, FAMILY, PARAMS ("3.8B"), TUNING (yes/no), MIN GPU
// MEMORY (inference total, as "9Gi"; "cpu" for a cpu_ok preset needing none); wide adds GPUS, DISK,
// TUNING GPU MEMORY, CONTEXT, CHAT TEMPLATE, SOURCE (HF repo or local folder).
// preset_to_json: every field of the preset, memory as quantities ("9Gi") and bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "presets/preset.h"

namespace kaito::presets {

// 3821079552 -> "3.8B", 41835970560 -> "41.8B", 143680 -> "143.7K".
std::string format_params(int64_t n);

std::string presets_table(const std::vector<preset>& presets, bool wide);

nlohmann::ordered_json preset_to_json(const preset& p);
// Block-style YAML of preset_to_json(p), ending in a newline.
std::string preset_to_yaml(const preset& p);
// A JSON value as block-style YAML (flow-style lists of scalars).
std::string json_to_yaml(const nlohmann::ordered_json& j);

}  // namespace kaito::presets
