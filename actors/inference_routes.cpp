// inference_routes; see inference_routes.h.
#include "actors/inference_routes.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include "actors/serve_metrics.h"
#include "base/log.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/tokenize_api.h"

namespace kaito::actors {

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t fresh_seed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// The part after "chatcmpl-" (chat_api adds the prefix).
std::string completion_id() {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fresh_seed()));
  return buf;
}

int http_code(const status& s) {
  switch (s.code()) {
    case status_code::invalid_argument:
    case status_code::failed_precondition:  // e.g. the template's raise_exception
      return 400;
    case status_code::not_found:
      return 404;
    case status_code::unimplemented:
      return 501;
    case status_code::resource_exhausted:
      return 413;
    default:
      return 500;
  }
}

engine::chat_options engine_options(const api::chat_params& p) {
  engine::chat_options o;
  o.max_tokens = p.max_tokens;
  o.sampling.temperature = p.temperature;
  o.sampling.top_p = p.top_p;
  o.sampling.top_k = p.top_k;
  o.sampling.repetition_penalty = p.repetition_penalty;
  o.sampling.presence_penalty = p.presence_penalty;
  o.sampling.frequency_penalty = p.frequency_penalty;
  for (const auto& [id, bias] : p.logit_bias)
    o.sampling.logit_bias.emplace_back(id, static_cast<float>(bias));
  o.sampling.seed = p.has_seed ? p.seed : fresh_seed();
  o.stop = p.stop;
  o.logprobs = p.logprobs;
  return o;
}

std::vector<api::logprob_entry> to_entries(const std::vector<engine::answer_logprob>& lps) {
  std::vector<api::logprob_entry> out;
  out.reserve(lps.size());
  for (const engine::answer_logprob& e : lps) out.push_back({e.token, e.logprob, e.top});
  return out;
}

api::chat_result to_result(const engine::chat_answer& a, bool has_logprobs = false) {
  api::chat_result r;
  r.text = a.text;
  r.prompt_tokens = a.prompt_tokens;
  r.completion_tokens = a.completion_tokens;
  r.finish_reason = a.length ? "length" : "stop";
  r.cached_tokens = a.cached_tokens;
  r.has_logprobs = has_logprobs;
  if (has_logprobs) r.logprobs = to_entries(a.logprobs);
  return r;
}

void reply_json(http_reply& out, int code, std::string body) {
  out.status = code;
  out.content_type = "application/json";
  out.body = std::move(body);
}

// The request, or false with the 400 / 404 answer written (a model name that is not ours).
template <class Request>
bool accept(const result<Request>& req, const std::string& name, http_reply& out) {
  if (!req.ok()) {
    reply_json(out, http_code(req.error()), api::openai_error_body(req.error()));
    return false;
  }
  if (!req->model.empty() && req->model != name) {
    status s(status_code::not_found, "The model `" + req->model + "` does not exist.", "model");
    reply_json(out, 404, api::openai_error_body(s));
    return false;
  }
  return true;
}

// The end of a stream whose headers are gone: the generation's error as one more event, or
// finish(reason) (the finish-reason chunk and, when asked for, the usage chunk) and [DONE].
void end_stream(http_reply& out, const result<engine::chat_answer>& a,
                const std::function<void(const std::string& reason)>& finish) {
  if (!a.ok()) {
    out.write_chunk("data: " + api::openai_error_body(a.error()) + "\n\n");
    return;
  }
  finish(a->length ? "length" : "stop");
  out.write_chunk(api::openai_stream_done());
}

void openai_chat(const engine::chat_service& svc, const std::string& name, const http_call& call,
                 http_reply& out) {
  auto req = api::parse_openai_chat_request(call.body);
  if (!accept(req, name, out)) return;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  engine::chat_options o = engine_options(req->params);
  if (!req->stream) {
    auto a = svc.chat(req->messages, o);
    if (!a.ok()) return reply_json(out, http_code(a.error()), api::openai_error_body(a.error()));
    return reply_json(out, 200,
                      api::openai_chat_response(to_result(*a, o.logprobs >= 0), name, id, created));
  }
  // Server-Sent Events: the role, the pieces as they come, the finish reason, [DONE].
  // With include_usage, every chunk carries "usage":null and one more chunk the counts.
  const std::string role = "assistant";
  const bool usage = req->include_usage;
  bool open =
      out.start_stream(200, "text/event-stream") &&
      out.write_chunk(api::openai_chat_chunk(id, name, created, &role, nullptr, nullptr, usage));
  // with logprobs, each piece carries the tokens drawn since the previous one; the finish chunk
  // the tokens after the last piece (an end of text held back, a stop string)
  std::vector<engine::answer_logprob> pending;
  if (o.logprobs >= 0) o.stream_logprobs = &pending;
  auto taken = [&] {
    std::vector<api::logprob_entry> e = to_entries(pending);
    pending.clear();
    return e;
  };
  auto a = svc.chat(req->messages, o, [&](const std::string& piece) {
    const std::vector<api::logprob_entry> lps = taken();
    open =
        open && out.write_chunk(api::openai_chat_chunk(id, name, created, nullptr, &piece, nullptr,
                                                       usage, o.logprobs >= 0 ? &lps : nullptr));
    return open;
  });
  if (!open) return;
  end_stream(out, a, [&](const std::string& reason) {
    const std::vector<api::logprob_entry> lps = taken();
    out.write_chunk(api::openai_chat_chunk(id, name, created, nullptr, nullptr, &reason, usage,
                                           o.logprobs >= 0 ? &lps : nullptr));
    if (usage)
      out.write_chunk(api::openai_usage_chunk(id, name, created, a->prompt_tokens,
                                              a->completion_tokens, false, a->cached_tokens));
  });
}

// OpenAI's legacy completions (vLLM serves them): the prompt continued as plain text.
void openai_completion(const engine::chat_service& svc, const std::string& name,
                       const http_call& call, http_reply& out) {
  auto req = api::parse_openai_completion_request(call.body);
  if (!accept(req, name, out)) return;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  engine::chat_options o = engine_options(req->params);
  const std::string echo = req->echo ? req->prompt : "";
  if (!req->stream) {
    auto a = svc.complete_text(req->prompt, o);
    if (!a.ok()) return reply_json(out, http_code(a.error()), api::openai_error_body(a.error()));
    api::chat_result r = to_result(*a, o.logprobs >= 0);
    r.text = echo + r.text;  // (echo with logprobs is refused)
    return reply_json(out, 200, api::openai_completion_response(r, name, id, created));
  }
  const bool usage = req->include_usage;
  std::vector<engine::answer_logprob> pending;  // as for chat: the tokens since the last piece
  if (o.logprobs >= 0) o.stream_logprobs = &pending;
  int64_t offset = 0;  // characters of the answer streamed so far (text_offset)
  auto chunk = [&](const std::string& text, const std::string* reason) {
    const std::vector<api::logprob_entry> lps = to_entries(pending);
    pending.clear();
    return out.write_chunk(api::openai_completion_chunk(id, name, created, text, reason, usage,
                                                        o.logprobs >= 0 ? &lps : nullptr, &offset));
  };
  bool open = out.start_stream(200, "text/event-stream") && (echo.empty() || chunk(echo, nullptr));
  auto a = svc.complete_text(req->prompt, o, [&](const std::string& piece) {
    open = open && chunk(piece, nullptr);
    return open;
  });
  if (!open) return;
  end_stream(out, a, [&](const std::string& reason) {
    chunk("", &reason);
    if (usage)
      out.write_chunk(api::openai_usage_chunk(id, name, created, a->prompt_tokens,
                                              a->completion_tokens, true, a->cached_tokens));
  });
}

// vLLM's /tokenize: the ids the prompt (or the rendered chat) becomes, with the served context.
void tokenize(const engine::chat_service& svc, const std::string& name, const http_call& call,
              http_reply& out) {
  auto req = api::parse_tokenize_request(call.body);
  if (!accept(req, name, out)) return;
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
  if (!accept(req, name, out)) return;
  auto text = svc.detokenize(req->tokens);
  if (!text.ok())
    return reply_json(out, http_code(text.error()), api::openai_error_body(text.error()));
  reply_json(out, 200, api::detokenize_response(*text));
}

void legacy_chat(const engine::chat_service& svc, const http_call& call, http_reply& out) {
  auto req = api::parse_legacy_chat_request(call.body);
  if (!req.ok())
    return reply_json(out, http_code(req.error()), api::legacy_error_body(req.error()));
  engine::chat_options o = engine_options(req->params);
  // generate_kwargs.max_length counts the prompt too, as in transformers.
  o.max_total_tokens = req->params.max_tokens;
  o.max_tokens = req->params.max_tokens;
  auto a = req->messages.empty() ? svc.complete_text(req->prompt, o) : svc.chat(req->messages, o);
  if (!a.ok()) return reply_json(out, http_code(a.error()), api::legacy_error_body(a.error()));
  // The text-generation pipeline returns the prompt with the answer (return_full_text).
  std::string text = req->messages.empty() ? req->prompt + a->text : a->text;
  reply_json(out, 200, api::legacy_chat_response(text));
}

}  // namespace

http_handler inference_routes(const engine::chat_service& service, std::string name) {
  return [&service, name](const http_call& call, http_reply& out) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool get = call.method == "GET", post = call.method == "POST";
    if (call.path == "/health" && get) {
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
      out.body = prometheus_text(service.stats(), name);
    } else if (call.path == "/v1/models" && get) {
      reply_json(out, 200, api::openai_models_body({name}, unix_now()));
    } else if (call.path == "/v1/chat/completions" && post) {
      openai_chat(service, name, call, out);
    } else if (call.path == "/v1/completions" && post) {
      openai_completion(service, name, call, out);
    } else if (call.path == "/chat" && post) {
      legacy_chat(service, call, out);
    } else if (call.path == "/tokenize" && post) {
      tokenize(service, name, call, out);
    } else if (call.path == "/detokenize" && post) {
      detokenize(service, name, call, out);
    } else if (call.path == "/version" && get) {
      reply_json(out, 200, nlohmann::json({{"version", KAITO_VERSION}}).dump());
    } else if (call.path == "/health" || call.path == "/" || call.path == "/v1/models" ||
               call.path == "/metrics" || call.path == "/tokenize" || call.path == "/detokenize" ||
               call.path == "/version" || call.path == "/v1/chat/completions" ||
               call.path == "/v1/completions" || call.path == "/chat") {
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
