// inference_routes; see inference_routes.h.
#include "actors/inference_routes.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

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
  o.prompt_logprobs = p.prompt_logprobs;
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

// The options choice i of a request answers with: its own seed (seed + i when the request gave
// one, so choice 0 is the n = 1 answer; else a fresh one).
engine::chat_options choice_options(const engine::chat_options& o, const api::chat_params& p,
                                    int64_t i) {
  engine::chat_options c = o;
  c.sampling.seed = p.has_seed ? p.seed + static_cast<uint64_t>(i) : fresh_seed();
  return c;
}

// answer(i) for each choice i in [0, n), all at once so the batch decodes them together (each on
// its own thread, the last on this one); their results in order.
std::vector<result<engine::chat_answer>> answer_all(
    int64_t n, const std::function<result<engine::chat_answer>(int64_t)>& answer) {
  std::vector<std::optional<result<engine::chat_answer>>> got(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int64_t i = 0; i + 1 < n; ++i) threads.emplace_back([&, i] { got[i].emplace(answer(i)); });
  got[n - 1].emplace(answer(n - 1));
  for (std::thread& t : threads) t.join();
  std::vector<result<engine::chat_answer>> out;
  out.reserve(got.size());
  for (auto& g : got) out.push_back(std::move(*g));
  return out;
}

// The answers as choices, or the first failure's status.
result<std::vector<api::chat_result>> to_results(
    const std::vector<result<engine::chat_answer>>& answers, bool has_logprobs) {
  std::vector<api::chat_result> out;
  for (const auto& a : answers) {
    if (!a.ok()) return a.error();
    out.push_back(to_result(*a, has_logprobs));
  }
  return out;
}

// A stream of n choices answered at once: chunks of all of them go out one at a time, and the
// first failure stops the others.
class choice_stream {
 public:
  explicit choice_stream(http_reply& out) : out_(out) {}
  // Writes `chunk` unless the client left or a choice failed; false then (the answer ends).
  bool write(const std::string& chunk) {
    std::lock_guard lock(mu_);
    open_ = open_ && !failed_ && out_.write_chunk(chunk);
    return open_ && !failed_;
  }
  // A choice failed: the others end at their next piece.
  void fail(const status& s) {
    std::lock_guard lock(mu_);
    if (!failed_) failure_ = s;
    failed_ = true;
  }
  // After every choice ended: the first failure as one more event, or done() then [DONE] (the
  // usage chunk and the end), unless the client left.
  void finish(const std::function<void()>& done) {
    if (!open_) return;
    if (failed_) {
      out_.write_chunk("data: " + api::openai_error_body(failure_) + "\n\n");
      return;
    }
    done();
    out_.write_chunk(api::openai_stream_done());
  }

 private:
  http_reply& out_;
  std::mutex mu_;
  bool open_ = true, failed_ = false;
  status failure_;
};

// The usage of answers to one prompt (all ok): the prompt once, every answer's tokens.
std::string usage_chunk(const std::vector<result<engine::chat_answer>>& answers,
                        const std::string& id, const std::string& name, int64_t created,
                        bool completions) {
  int64_t completion = 0;
  for (const auto& a : answers) completion += a->completion_tokens;
  const engine::chat_answer& first = *answers[0];
  return api::openai_usage_chunk(id, name, created, first.prompt_tokens, completion, completions,
                                 first.cached_tokens);
}

void openai_chat(const engine::chat_service& svc, const std::string& name, const http_call& call,
                 http_reply& out) {
  auto req = api::parse_openai_chat_request(call.body);
  if (!accept(req, name, out)) return;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  const engine::chat_options o = engine_options(req->params);
  const bool lp = o.logprobs >= 0;
  if (!req->stream) {
    auto results = to_results(
        answer_all(
            req->n,
            [&](int64_t i) { return svc.chat(req->messages, choice_options(o, req->params, i)); }),
        lp);
    if (!results.ok())
      return reply_json(out, http_code(results.error()), api::openai_error_body(results.error()));
    return reply_json(out, 200, api::openai_chat_response(*results, name, id, created));
  }
  // Server-Sent Events: per choice the role, the pieces as they come and the finish reason; then
  // [DONE]. With include_usage, every chunk carries "usage":null and one more chunk the counts.
  // With logprobs, each piece carries the tokens drawn since the previous one, the finish chunk
  // the tokens after the last piece (an end of text held back, a stop string).
  const std::string role = "assistant";
  const bool usage = req->include_usage;
  if (!out.start_stream(200, "text/event-stream")) return;
  choice_stream stream(out);
  auto answers = answer_all(req->n, [&](int64_t i) -> result<engine::chat_answer> {
    std::vector<engine::answer_logprob> pending;
    engine::chat_options c = choice_options(o, req->params, i);
    if (lp) c.stream_logprobs = &pending;
    auto chunk = [&](const std::string* piece, const std::string* reason) {
      const std::vector<api::logprob_entry> lps = to_entries(pending);
      pending.clear();
      return stream.write(api::openai_chat_chunk(id, name, created, nullptr, piece, reason, usage,
                                                 lp ? &lps : nullptr, i));
    };
    if (!stream.write(
            api::openai_chat_chunk(id, name, created, &role, nullptr, nullptr, usage, nullptr, i)))
      return engine::chat_answer{};  // the client left or a choice failed: nothing to answer
    auto a = svc.chat(req->messages, c,
                      [&](const std::string& piece) { return chunk(&piece, nullptr); });
    if (!a.ok()) {
      stream.fail(a.error());
      return a;
    }
    const std::string reason = a->length ? "length" : "stop";
    chunk(nullptr, &reason);
    return a;
  });
  stream.finish([&] {
    if (usage) out.write_chunk(usage_chunk(answers, id, name, created, false));
  });
}

// OpenAI's legacy completions (vLLM serves them): the prompt continued as plain text.
void openai_completion(const engine::chat_service& svc, const std::string& name,
                       const http_call& call, http_reply& out) {
  auto req = api::parse_openai_completion_request(call.body);
  if (!accept(req, name, out)) return;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  const engine::chat_options o = engine_options(req->params);
  const bool lp = o.logprobs >= 0;
  const std::string echo = req->echo ? req->prompt : "";
  if (!req->stream) {
    const auto answers = answer_all(req->n, [&](int64_t i) {
      return svc.complete_text(req->prompt, choice_options(o, req->params, i));
    });
    auto results = to_results(answers, lp);
    if (!results.ok())
      return reply_json(out, http_code(results.error()), api::openai_error_body(results.error()));
    for (size_t i = 0; i < results->size(); ++i) {
      api::chat_result& r = (*results)[i];
      r.text = echo + r.text;
      if (lp && req->echo) {  // the prompt's tokens first
        std::vector<api::logprob_entry> all = to_entries(answers[i]->prompt_logprobs);
        all.insert(all.end(), r.logprobs.begin(), r.logprobs.end());
        r.logprobs = std::move(all);
      }
    }
    return reply_json(out, 200, api::openai_completion_response(*results, name, id, created));
  }
  const bool usage = req->include_usage;
  // echo with logprobs: the prompt's entries lead the stream's (as many as its tokens)
  int64_t prompt_tokens = 0;
  if (lp && req->echo) {
    auto ids = svc.tokenize_text(req->prompt, true);
    if (!ids.ok())
      return reply_json(out, http_code(ids.error()), api::openai_error_body(ids.error()));
    prompt_tokens = static_cast<int64_t>(ids->size());
  }
  if (!out.start_stream(200, "text/event-stream")) return;
  choice_stream stream(out);
  auto answers = answer_all(req->n, [&](int64_t i) -> result<engine::chat_answer> {
    std::vector<engine::answer_logprob> pending;  // as for chat: the tokens since the last piece
    engine::chat_options c = choice_options(o, req->params, i);
    if (lp) c.stream_logprobs = &pending;
    int64_t offset = 0;  // characters of the answer streamed so far (text_offset)
    // a chunk with the first `upto` entries pending (the prompt's lead them under echo)
    auto chunk = [&](const std::string& text, const std::string* reason,
                     size_t upto = std::string::npos) {
      const auto k = static_cast<std::ptrdiff_t>(std::min(upto, pending.size()));
      const std::vector<api::logprob_entry> lps =
          to_entries(std::vector<engine::answer_logprob>(pending.begin(), pending.begin() + k));
      pending.erase(pending.begin(), pending.begin() + k);
      return stream.write(api::openai_completion_chunk(id, name, created, text, reason, usage,
                                                       lp ? &lps : nullptr, &offset, i));
    };
    // The echo goes first: at once, or with logprobs once the prompt's entries are in (at the
    // first piece, or at the end).
    bool echoed = echo.empty();
    auto echo_first = [&] {
      if (echoed) return true;
      echoed = true;
      return chunk(echo, nullptr, static_cast<size_t>(prompt_tokens));
    };
    if (!lp && !echo_first()) return engine::chat_answer{};  // as for chat
    auto a = svc.complete_text(req->prompt, c, [&](const std::string& piece) {
      return echo_first() && chunk(piece, nullptr);
    });
    if (!a.ok()) {
      stream.fail(a.error());
      return a;
    }
    const std::string reason = a->length ? "length" : "stop";
    if (echo_first()) chunk("", &reason);
    return a;
  });
  stream.finish([&] {
    if (usage) out.write_chunk(usage_chunk(answers, id, name, created, true));
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
