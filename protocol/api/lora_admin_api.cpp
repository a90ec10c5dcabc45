// vLLM's run-time LoRA endpoint bodies; see lora_admin_api.h.
#include "protocol/api/lora_admin_api.h"

#include "protocol/api/chat_api_fields.h"

namespace kaito::api {

using chat_fields::ojson;

namespace {

// A required, non-empty string field.
result<std::string> required_string(const ojson& j, const char* key) {
  std::string v;
  KAITO_TRY(chat_fields::read_string(j, key, key, v));
  if (v.empty()) return invalid_argument("required: a non-empty string", key);
  return v;
}

}  // namespace

result<lora_load_request> parse_lora_load_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  lora_load_request r;
  KAITO_ASSIGN_OR_RETURN(r.name, required_string(j, "lora_name"));
  KAITO_ASSIGN_OR_RETURN(r.path, required_string(j, "lora_path"));
  return r;
}

result<std::string> parse_lora_unload_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  if (const ojson* id = chat_fields::field(j, "lora_int_id"); id && !id->is_number_integer())
    return chat_fields::wrong(*id, "lora_int_id", "an integer");
  return required_string(j, "lora_name");
}

std::string lora_loaded_text(const std::string& name) {
  return "Success: LoRA adapter '" + name + "' added successfully.";
}

std::string lora_unloaded_text(const std::string& name) {
  return "Success: LoRA adapter '" + name + "' removed successfully.";
}

}  // namespace kaito::api
