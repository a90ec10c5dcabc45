// Cross-field rules for a parsed preset, and the facts admission validation sees.
//
// validate_preset records (in cx) the first rule a preset breaks, at the offending field of `doc`:
// a known family and chat template, a DNS-1123 name, exactly one weights source (hf_repo+revision
// or local_dir), a known dtype, GPU needs (positive unless cpu_ok), heads dividing evenly (GQA),
// exactly one norm epsilon, rope_scaling consistent with its type, eos ids inside the vocabulary,
// model_token_limit <= max_position_embeddings, non-empty LoRA targets.
#pragma once

#include <yaml-cpp/yaml.h>

#include "presets/preset.h"
#include "presets/yaml_reader.h"

namespace kaito::presets {

void validate_preset(read_context& cx, const YAML::Node& doc, const preset& p);
api::preset_facts derive_facts(const preset& p);

}  // namespace kaito::presets
