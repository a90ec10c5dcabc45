// inference_reply: what the inference server's routes (inference_routes.h, openai_routes.h) share:
// a status as an HTTP code, a JSON reply, the check of a request and its model name, the engine
// options of a request's params, logprobs entries and results in the API's terms, ids and seeds.
// Thread-safety: pure functions, but fresh_seed's generator is per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/http_server.h"
#include "base/status.h"
#include "engine/chat_service.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

int64_t unix_now();
uint64_t fresh_seed();  // a random 64-bit seed (per thread generator, seeded from the device)
// 16 hex digits: the part after "chatcmpl-" / "cmpl-" (chat_api adds the prefix).
std::string completion_id();
// An answer's tool calls as r.tool_calls, each with a fresh tool_call_id: a forced call's
// (params.tool_call "named" / "required", protocol/api/chat_tools.h; r.text then "", r unchanged
// when the text is not whole calls), or with "auto" the calls the model wrote in `format`
// (protocol/api/tool_call_parser.h; r.text its content, finish_reason "tool_calls" unless the
// answer was cut by length).
void attach_tool_calls(const api::chat_params& p, api::tool_call_format format,
                       api::chat_result& r);
// "chatcmpl-tool-<32 hex>" (vLLM's), or for mistral 9 letters and digits (its template refuses
// other ids when the conversation comes back).
std::string tool_call_id(api::tool_call_format format);
// invalid_argument and failed_precondition (a template's raise_exception) 400, not_found 404,
// unimplemented 501, resource_exhausted 413, unavailable 503 (shutting down), others 500.
int http_code(const status& s);
void reply_json(http_reply& out, int code, std::string body);
// The engine's options for a request's params (an unseeded request draws a fresh seed).
engine::chat_options engine_options(const api::chat_params& p);
// The same with the answer's JSON schema compiled (engine/json_schema.h), or false with the
// error answer written (400, or 501 for what it cannot enforce) before any stream starts.
// With tool_choice "required" each tool's parameters compile first, so an error names that
// tool's (tools[i]...); "auto" and "none" hold the answer to no tool's schema and check none.
bool accept_options(const api::chat_params& p, http_reply& out, engine::chat_options& o);
std::vector<api::logprob_entry> to_entries(const std::vector<engine::answer_logprob>& lps);
api::chat_result to_result(const engine::chat_answer& a, bool has_logprobs = false);

// The model a request runs on: the served name (the base model with any merged adapters), one
// of the service's LoRA modules (vLLM's --lora-modules: requested by name, run unmerged) or one
// of the served model's other names (engine::chat_service::merged_names).
struct served_model {
  std::string name;  // what the answer names: the request's model, or the served name
  std::string lora;  // engine::chat_options::lora: the name asked for, "" for the served name
};

// The request's model, or nullopt with the 400 / 404 answer written (a malformed request; a
// model name that is neither ours nor a LoRA module's, vLLM's "The model `x` does not exist.").
template <class Request>
std::optional<served_model> accept_request(const result<Request>& req,
                                           const engine::chat_service& svc, const std::string& name,
                                           http_reply& out) {
  if (!req.ok()) {
    reply_json(out, http_code(req.error()), api::openai_error_body(req.error()));
    return std::nullopt;
  }
  if (req->model.empty() || req->model == name) return served_model{name, ""};
  if (svc.serves_lora(req->model)) return served_model{req->model, req->model};
  status s(status_code::not_found, "The model `" + req->model + "` does not exist.", "model");
  reply_json(out, 404, api::openai_error_body(s));
  return std::nullopt;
}

// GET /v1/models: the served model, its other names, then the LoRA modules (vLLM's model cards;
// the last two with the served model as parent).
std::vector<api::model_card> served_model_cards(const engine::chat_service& svc,
                                                const std::string& name);

}  // namespace kaito::actors
