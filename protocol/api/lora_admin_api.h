// lora_admin_api: the bodies of vLLM's run-time LoRA endpoints (served when
// VLLM_ALLOW_RUNTIME_LORA_UPDATING is set; LoRA-aware routers' sidecars call them to place
// adapters on the servers of a pool):
//
//   POST /v1/load_lora_adapter    {"lora_name": NAME, "lora_path": DIR}
//                                 -> 200 "Success: LoRA adapter 'NAME' added successfully."
//   POST /v1/unload_lora_adapter  {"lora_name": NAME, "lora_int_id"?: N}
//                                 -> 200 "Success: LoRA adapter 'NAME' removed successfully."
//
// Parsing follows chat_api.h: malformed JSON is invalid_argument at "byte <offset>", a missing or
// empty name or path names its field, never a throw. lora_int_id (vLLM's internal number) is
// read and ignored: names identify adapters here.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace kaito::api {

struct lora_load_request {
  std::string name, path;
};
result<lora_load_request> parse_lora_load_request(std::string_view body);
result<std::string> parse_lora_unload_request(std::string_view body);  // the name

// vLLM's plain-text success bodies.
std::string lora_loaded_text(const std::string& name);
std::string lora_unloaded_text(const std::string& name);

}  // namespace kaito::api
