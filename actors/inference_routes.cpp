// inference_routes; see inference_routes.h.
#include "actors/inference_routes.h"

#include <chrono>
#include <memory>
#include <optional>

#include "actors/inference_reply.h"
#include "actors/openai_routes.h"
#include "actors/queue_guard.h"
#include "actors/serve_metrics.h"
#include "base/log.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/lora_admin_api.h"
#include "protocol/api/tokenize_api.h"

namespace kaito::actors {

namespace {

// vLLM's /tokenize: the ids the prompt (or the rendered chat) becomes, with the served context.
void tokenize(const engine::chat_service& svc, const std::string& name, const http_call& call,
              http_reply& out) {
  auto req = api::parse_tokenize_request(call.body);
  if (!accept_request(req, svc, name, out)) return;  // (a LoRA module's: the same tokenizer)
  auto ids = req->messages.empty() ? svc.tokenize_text(req->prompt, req->add_special_tokens)
                                   : svc.tokenize_chat(req->messages, req->add_generation_prompt,
                                                       req->add_special_tokens);
  if (!ids.ok())
    return reply_json(out, http_code(ids.error()), api::openai_error_body(ids.error()));
  reply_json(out, 200, api::tokenize_response(*ids, svc.context_length()));
}

void detokenize(const engine::chat_service& svc, const std::string& name, const http_call& call,
                http_reply& out) {
  auto req = api::parse_detokenize_request(call.body);
  if (!accept_request(req, svc, name, out)) return;
  auto text = svc.detokenize(req->tokens);
  if (!text.ok())
    return reply_json(out, http_code(text.error()), api::openai_error_body(text.error()));
  reply_json(out, 200, api::detokenize_response(*text));
}

// vLLM's run-time LoRA modules: 200 with its plain-text success line, or its error.
void lora_update(const engine::chat_service& svc, const std::string& name, const http_call& call,
                 http_reply& out) {
  auto fail = [&](const status& st) {
    reply_json(out, st.code() == status_code::already_exists ? 400 : http_code(st),
               api::openai_error_body(st));
  };
  const bool load = call.path == "/v1/load_lora_adapter";
  std::string lora;
  if (load) {
    auto req = api::parse_lora_load_request(call.body);
    if (!req.ok()) return fail(req.error());
    if (req->name == name)
      return fail(invalid_argument("'" + name + "' is the served model's name", "lora_name"));
    status st = svc.load_lora({req->name, req->path}, "lora_name");
    // An adapter that cannot be read is the request's lora_path: 404 when its files are not
    // there (vLLM's "No adapter found"), else 400.
    if (!st.ok() && st.where() != "lora_name") {
      const bool missing =
          st.code() == status_code::not_found || st.code() == status_code::io_error;
      st = status(missing ? status_code::not_found : status_code::invalid_argument, st.to_string(),
                  "lora_path");
    }
    if (!st.ok()) return fail(st);
    lora = req->name;
  } else {
    auto req = api::parse_lora_unload_request(call.body);
    if (!req.ok()) return fail(req.error());
    if (status st = svc.unload_lora(*req, "lora_name"); !st.ok()) return fail(st);
    lora = *req;
  }
  log_info(logger("http"), load ? "LoRA module loaded" : "LoRA module unloaded", {{"name", lora}});
  out.status = 200;
  out.content_type = "text/plain; charset=utf-8";
  out.body = load ? api::lora_loaded_text(lora) : api::lora_unloaded_text(lora);
}

void legacy_chat(const engine::chat_service& svc, const http_call& call, http_reply& out) {
  auto req = api::parse_legacy_chat_request(call.body);
  if (!req.ok())
    return reply_json(out, http_code(req.error()), api::legacy_error_body(req.error()));
  engine::chat_options o = engine_options(req->params);
  // generate_kwargs.max_length and min_length count the prompt too, as in transformers.
  o.max_total_tokens = req->params.max_length;
  o.min_total_tokens = req->params.min_length;
  auto a = req->messages.empty() ? svc.complete_text(req->prompt, o) : svc.chat(req->messages, o);
  if (!a.ok()) return reply_json(out, http_code(a.error()), api::legacy_error_body(a.error()));
  // The text-generation pipeline returns the prompt with the answer (return_full_text).
  std::string text = req->messages.empty() ? req->prompt + a->text : a->text;
  reply_json(out, 200, api::legacy_chat_response(text));
}

}  // namespace

result<api::tool_call_format> serving_tool_format(const engine::chat_service& service,
                                                  const std::string& parser,
                                                  const std::string& flag) {
  if (parser.empty()) return api::detect_tool_call_format(service.chat_template_source());
  return api::tool_call_format_named(parser, flag);
}

http_handler inference_routes(const engine::chat_service& service, std::string name,
                              api::tool_call_format tools, inference_options o) {
  auto store = std::make_shared<response_store>();
  auto guard = std::make_shared<queue_guard>(o.rate_limit ? service.max_batch() : 0);
  const bool lora_updates = o.runtime_lora_updating;
  return [&service, name, tools, store, guard, lora_updates](const http_call& call,
                                                             http_reply& out) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool get = call.method == "GET", post = call.method == "POST";
    // Held until the answer is sent: the guard counts the requests in flight.
    std::optional<queue_guard::ticket> admitted;
    if (post && rate_limited_path(call.path)) admitted.emplace(guard->admit(service.waiting()));
    if (admitted && !admitted->admitted()) {
      log_warn(logger("http"), "rate limit: rejecting",
               {{"path", call.path},
                {"waiting", std::to_string(admitted->effective())},
                {"max_num_seqs", std::to_string(guard->threshold())}});
      reply_json(out, 429, rate_limit_body(admitted->effective(), guard->threshold()));
    } else if (call.path == "/health" && get) {
      const status h = service.health();
      if (h.ok())
        reply_json(out, 200, "{\"status\":\"Healthy\"}");
      else
        reply_json(out, 503,
                   nlohmann::json({{"status", "Unhealthy"}, {"detail", h.to_string()}}).dump());
    } else if (call.path == "/" && get) {
      reply_json(out, 200, "{\"message\":\"Server is running\"}");
    } else if (call.path == "/metrics" && get) {
      out.status = 200;
      out.content_type = kPrometheusContentType;
      out.body = prometheus_text(service.stats(), name) + rate_limit_metrics(guard->rejected());
    } else if (call.path == "/v1/models" && get) {
      reply_json(out, 200, api::openai_models_body(served_model_cards(service, name), unix_now()));
    } else if (call.path == "/v1/chat/completions" && post) {
      openai_chat(service, name, tools, call, out);
    } else if (call.path == "/v1/completions" && post) {
      openai_completion(service, name, call, out);
    } else if (call.path == "/v1/responses" && post) {
      openai_responses(service, name, tools, *store, call, out);
    } else if (call.path.rfind("/v1/responses/", 0) == 0 && call.path.size() > 14 &&
               call.path[14] != '/') {
      const std::string rest = call.path.substr(14);  // {id} or {id}/{sub} (unknown subs: 404)
      const size_t slash = rest.find('/');
      stored_response(*store, rest.substr(0, slash),
                      slash == std::string::npos ? "" : rest.substr(slash + 1), call, out);
    } else if (call.path == "/chat" && post) {
      legacy_chat(service, call, out);
    } else if (call.path == "/tokenize" && post) {
      tokenize(service, name, call, out);
    } else if (call.path == "/detokenize" && post) {
      detokenize(service, name, call, out);
    } else if (lora_updates && post &&
               (call.path == "/v1/load_lora_adapter" || call.path == "/v1/unload_lora_adapter")) {
      lora_update(service, name, call, out);
    } else if (call.path == "/version" && get) {
      reply_json(out, 200, nlohmann::json({{"version", KAITO_VERSION}}).dump());
    } else if (call.path == "/health" || call.path == "/" || call.path == "/v1/models" ||
               call.path == "/metrics" || call.path == "/tokenize" || call.path == "/detokenize" ||
               call.path == "/version" || call.path == "/v1/chat/completions" ||
               call.path == "/v1/completions" || call.path == "/v1/responses" ||
               call.path == "/chat") {
      reply_json(out, 405, "{\"detail\":\"Method Not Allowed\"}");
    } else {
      reply_json(out, 404, "{\"detail\":\"Not Found\"}");
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    log_info(logger("http"), "request",
             {{"method", call.method},
              {"path", call.path},
              {"status", std::to_string(out.status)},
              {"ms", std::to_string(ms)}});
  };
}

}  // namespace kaito::actors
