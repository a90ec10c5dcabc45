// openai_routes: the inference server's OpenAI endpoints (vLLM's): POST /v1/chat/completions and
// POST /v1/completions, bodies in protocol/api/chat_api.h. Not streamed: one JSON body with
// choices[0 .. n-1]. "stream": true answers Server-Sent Events: per choice its role (chat), its
// pieces as they come with the logprobs of their tokens, and its finish reason, the choices of
// n > 1 interleaved; then the usage chunk (stream_options include_usage) and [DONE]; a failure
// after the headers went is one more event with the error body. The n choices are n requests to
// the batch at once; choice i samples with seed + i when the request gave a seed. Completions:
// echo puts the prompt first (with logprobs, its tokens' entries lead, the first null).
// `served` is the model's name; a request's "model" may also name one of the service's LoRA
// modules (inference_reply.h accept_request): the answer then runs with it and carries its name.
// Thread-safety: as inference_routes.h.
#pragma once

#include <string>

#include "actors/http_server.h"
#include "actors/response_store.h"
#include "engine/chat_service.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

// tools: the model's tool call format, for tool_choice "auto" (none: "auto" with tools is 501).
void openai_chat(const engine::chat_service& svc, const std::string& served,
                 api::tool_call_format tools, const http_call& call, http_reply& out);
void openai_completion(const engine::chat_service& svc, const std::string& served,
                       const http_call& call, http_reply& out);
// POST /v1/responses (protocol/api/responses_api.h): one turn, streamed as the Responses API's
// events when asked; previous_response_id continues a response kept in `store`, an input item
// {"type": "item_reference", "id"} stands for an item kept there, and the answer
// is kept there unless the request says store: false (protocol/api/responses_state.h). An
// unknown previous_response_id is 400 naming it.
void openai_responses(const engine::chat_service& svc, const std::string& served,
                      api::tool_call_format tools, response_store& store, const http_call& call,
                      http_reply& out);
// GET / DELETE /v1/responses/{id} of a stored response: its body, or {"id", "object":
// "response", "deleted": true}; GET /v1/responses/{id}/input_items (sub "input_items"): a page of
// the items it was generated from (protocol/api/responses_items.h; a bad query parameter is 400
// naming it). 404 naming the id when it is not (or no longer) stored.
void stored_response(response_store& store, const std::string& id, const std::string& sub,
                     const http_call& call, http_reply& out);

}  // namespace kaito::actors
