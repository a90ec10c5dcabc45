// peft_adapter: read and write PEFT LoRA adapter folders (adapter_config.json +
// adapter_model.safetensors), the format `PeftModel.from_pretrained` loads.
//
// Tensor names: "base_model.model." + module path + ".lora_A.weight" / ".lora_B.weight" (PEFT
// strips the adapter name on save; a ".default" before ".weight" is accepted on import). A is (r,
// in), B is (out, r); F32, BF16 or F16 on import, F32 on export. The scale is not stored: it comes
// from lora_alpha / r (or sqrt(r) with use_rslora) and the rank/alpha patterns of
// adapter_config.json. Import is strict: the modules in the file must be exactly those the config's
// targets select on this model, with the configured ranks; DoRA, lora_bias, fan_in_fan_out and
// modules_to_save are rejected (unimplemented). Unknown config keys are ignored, as PEFT does.
//
// Thread-safety: free functions over values.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"

namespace kaito::engine {

// Parses adapter_config.json text (errors name the JSON field).
result<lora_config> parse_peft_config(std::string_view json_text);

// Loads `<dir>/adapter_config.json` and `<dir>/adapter_model.safetensors` for a model with config
// `c`. Gradients are allocated and zero.
result<lora_adapter> load_peft_adapter(const std::string& dir, const model_config& c);

// The PEFT tensor name of a module's A or B weight.
std::string peft_tensor_name(const lora_module& m, bool is_b);

// Writes the adapter folder (creating `dir`); adapter_config.json carries peft_type LORA,
// task_type CAUSAL_LM, r, lora_alpha, lora_dropout, use_rslora, target_modules (the distinct
// module names present), rank/alpha patterns and `base_model_name_or_path` when non-empty.
status save_peft_adapter(const std::string& dir, const lora_adapter& a,
                         const std::string& base_model_name_or_path = {});

}  // namespace kaito::engine
