// inference_routes: the inference server's endpoints over one chat_service, as Kaito's runtimes
// answer them (reference/kaito.md 4.2, 4.3):
//   GET  /health                 {"status":"Healthy"}
//   GET  /                       {"message":"Server is running"}
//   GET  /v1/models              the served model name (OpenAI list)
//   GET  /metrics                Prometheus text with vLLM's metric names (serve_metrics.h)
//                                and kaito_ratelimit_rejected_total (the 429s below)
//   POST /tokenize, /detokenize  vLLM's: a prompt or chat as token ids (with the served
//                                context), ids as text (protocol/api/tokenize_api.h)
//   GET  /version                {"version": kaito's}
//   POST /v1/chat/completions    OpenAI chat completion; "stream": true answers Server-Sent Events
//                                (chat.completion.chunk ... data: [DONE]); stream_options
//                                include_usage adds the usage chunk
//   POST /v1/completions         OpenAI's legacy completions (vLLM's): the prompt continued as
//                                plain text, echo (with the prompt's logprobs), the same
//                                streaming (text_completion chunks)
//   POST /v1/responses           OpenAI's Responses API (Kaito's transformers runtime v0.9+,
//                                vLLM): one turn, events when streamed; previous_response_id
//                                continues a stored response (kept unless store: false),
//                                item_reference inputs stand for stored items
//   GET|DELETE /v1/responses/{id}  a stored response (actors/response_store.h: in memory, the
//                                newest 1024 within 64 MiB)
//   GET /v1/responses/{id}/input_items  the items it was generated from, a page at a time
//                                (protocol/api/responses_items.h)
//   POST /chat                   Kaito's legacy transformers API: prompt or messages +
//                                generate_kwargs -> {"Result": text}
//   POST /v1/load_lora_adapter, /v1/unload_lora_adapter   with runtime_lora_updating: vLLM's
//                                run-time LoRA modules (a name taken, or the served model's: 400;
//                                an unknown one: 404; a folder that is no adapter: its error)
// Bodies: protocol/api/chat_api.h. Errors: 400 naming the field (OpenAI error JSON, or
// {"detail": ...} on /chat) or giving the chat template's refusal (raise_exception, or a model
// with no template), 404 for another model name or path, 405 for another method, 501 for
// settings we do not implement (tool_choice "auto" without a tool call format, best_of > n),
// 500 when generation fails; a generation request while more requests wait than max-num-seqs:
// 429, Kaito's rate_limit_exceeded (queue_guard.h). An unseeded sampled request draws a fresh
// seed. The OpenAI endpoints are openai_routes.h's (n choices,
// streams, echo with logprobs). One structured log line per request.
// Thread-safety: the handler may run on several connection threads (chat_service batches them).
#pragma once

#include <string>

#include "actors/http_server.h"
#include "base/status.h"
#include "engine/chat_service.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

struct inference_options {
  // Kaito's queue-depth guard (queue_guard.h): generation requests get 429 while more wait than
  // max-num-seqs; false (kaito serve --disable-rate-limit) queues them all.
  bool rate_limit = true;
  // vLLM's run-time LoRA updating (VLLM_ALLOW_RUNTIME_LORA_UPDATING): POST /v1/load_lora_adapter
  // and /v1/unload_lora_adapter add and remove LoRA modules (protocol/api/lora_admin_api.h);
  // without it those paths are 404, as vLLM's.
  bool runtime_lora_updating = false;
};

// The handler for http_server; `service` must outlive it. tools: the model's tool call format
// for chat's tool_choice "auto" (serving_tool_format).
http_handler inference_routes(const engine::chat_service& service, std::string served_model_name,
                              api::tool_call_format tools, inference_options o = {});

// The tool call format to serve with: vLLM's --tool-call-parser name (hermes, llama3_json,
// mistral, none), or "" for the one the model's chat template shows
// (api::detect_tool_call_format); an unknown name is invalid_argument naming `flag`.
result<api::tool_call_format> serving_tool_format(const engine::chat_service& service,
                                                  const std::string& parser,
                                                  const std::string& flag);

}  // namespace kaito::actors
