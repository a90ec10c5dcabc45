// openai_routes; see openai_routes.h.
#include "actors/openai_routes.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "actors/inference_reply.h"
#include "actors/tool_answer.h"
#include "base/url_query.h"
#include "protocol/api/chat_api.h"
#include "protocol/api/chat_tools.h"
#include "protocol/api/responses_api.h"
#include "protocol/api/responses_items.h"
#include "protocol/api/responses_state.h"
#include "protocol/api/tool_call_parser.h"

namespace kaito::actors {

namespace {

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

// The request's tools for the template, and for tool_choice "auto" the model's call markers kept
// in its text; false with the 501 written when the model has no known call format.
bool accept_tools(const api::chat_request& req, api::tool_call_format tools, http_reply& out,
                  engine::chat_options& o) {
  o.tools = req.tools;
  if (req.params.tool_call != "auto") return true;
  if (tools == api::tool_call_format::none) {
    const status s(status_code::unimplemented,
                   "tool_choice \"auto\" (the default with tools) needs the model's tool call "
                   "format, and this model's chat template has none that is known; serve it "
                   "with --tool-call-parser (hermes, llama3_json or mistral), or send "
                   "tool_choice \"required\", a named function, or \"none\"",
                   "tool_choice");
    reply_json(out, http_code(s), api::openai_error_body(s));
    return false;
  }
  o.keep_special = api::tool_call_markers(tools);
  return true;
}

}  // namespace

void openai_chat(const engine::chat_service& svc, const std::string& served,
                 api::tool_call_format tools, const http_call& call, http_reply& out) {
  auto req = api::parse_openai_chat_request(call.body);
  const auto model = accept_request(req, svc, served, out);
  if (!model) return;
  const std::string& name = model->name;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  engine::chat_options o;
  if (!accept_options(req->params, out, o) || !accept_tools(*req, tools, out, o)) return;
  o.lora = model->lora;
  const api::chat_params& p = req->params;
  const bool lp = o.logprobs >= 0;
  if (!req->stream) {
    auto results = to_results(
        answer_all(req->n,
                   [&](int64_t i) { return svc.chat(req->messages, choice_options(o, p, i)); }),
        lp);
    if (!results.ok())
      return reply_json(out, http_code(results.error()), api::openai_error_body(results.error()));
    for (api::chat_result& r : *results) attach_tool_calls(p, tools, r);
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
    auto call_chunk = [&](const api::tool_call& call, int64_t k) {
      return stream.write(api::openai_tool_call_chunk(id, name, created, call, k, usage, i));
    };
    if (!stream.write(
            api::openai_chat_chunk(id, name, created, &role, nullptr, nullptr, usage, nullptr, i)))
      return engine::chat_answer{};  // the client left or a choice failed: nothing to answer
    // Calls stream as tool_calls deltas (tool_answer.h): a named one's arguments as they come
    // (its id and name first), the others at the end.
    tool_answer answer(p, tools);
    if (answer.named() && !call_chunk(*answer.named(), 0)) return engine::chat_answer{};
    auto a = svc.chat(req->messages, c, [&](const std::string& piece) {
      const tool_answer::step s = answer.feed(piece);
      if (!s.arguments.empty()) return call_chunk({"", "", s.arguments}, 0);
      return s.text.empty() || chunk(&s.text, nullptr);
    });
    if (!a.ok()) {
      stream.fail(a.error());
      return a;
    }
    const tool_answer::end e = answer.finish(*a);
    if (!e.unsent.empty()) chunk(&e.unsent, nullptr);
    for (size_t k = e.streamed_calls; k < e.result.tool_calls.size(); ++k)
      call_chunk(e.result.tool_calls[k], static_cast<int64_t>(k));
    chunk(nullptr, &e.result.finish_reason);
    return a;
  });
  stream.finish([&] {
    if (usage)
      out.write_chunk(api::openai_usage_chunk(id, name, created, *to_results(answers, false)));
  });
}

// OpenAI's legacy completions (vLLM serves them): the prompt continued as plain text.
void openai_completion(const engine::chat_service& svc, const std::string& served,
                       const http_call& call, http_reply& out) {
  auto req = api::parse_openai_completion_request(call.body);
  const auto model = accept_request(req, svc, served, out);
  if (!model) return;
  const std::string& name = model->name;
  const std::string id = completion_id();
  const int64_t created = unix_now();
  engine::chat_options o;
  if (!accept_options(req->params, out, o)) return;
  o.lora = model->lora;
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
    if (usage)
      out.write_chunk(
          api::openai_usage_chunk(id, name, created, *to_results(answers, false), true));
  });
}

void openai_responses(const engine::chat_service& svc, const std::string& served,
                      api::tool_call_format tools, response_store& store, const http_call& call,
                      http_reply& out) {
  auto state = api::read_responses_state(call.body);
  if (!state.ok()) return reply_json(out, 400, api::openai_error_body(state.error()));
  std::string body = call.body;
  if (!state->previous_response_id.empty()) {
    auto prev = store.get(state->previous_response_id);
    if (!prev)
      return reply_json(
          out, 400,
          api::openai_error_body(invalid_argument(
              "Previous response with id '" + state->previous_response_id + "' not found.",
              "previous_response_id")));
    auto merged = api::responses_body_with_history(call.body, prev->history);
    if (!merged.ok()) return reply_json(out, 400, api::openai_error_body(merged.error()));
    body = std::move(*merged);
  }
  auto resolved = api::responses_body_with_references(
      body, [&](const std::string& id) { return store.find_item(id); });
  if (!resolved.ok()) return reply_json(out, 400, api::openai_error_body(resolved.error()));
  body = std::move(*resolved);
  api::responses_echo echo;
  auto req = api::parse_responses_request(body, &echo);
  const auto model = accept_request(req, svc, served, out);
  if (!model) return;
  const api::responses_ids ids{completion_id(), completion_id(), model->name, unix_now(), echo};
  engine::chat_options o;
  if (!accept_options(req->params, out, o) || !accept_tools(*req, tools, out, o)) return;
  o.lora = model->lora;
  const api::chat_params& p = req->params;
  // Kept for previous_response_id and GET /v1/responses/{id} (store: true, the default).
  auto keep = [&](const std::string& response_body) {
    if (!state->store) return;
    auto history = api::responses_history_after(body, response_body);
    if (history.ok()) store.put("resp_" + ids.response_id, {response_body, std::move(*history)});
  };
  if (!req->stream) {
    auto a = svc.chat(req->messages, o);
    if (!a.ok()) return reply_json(out, http_code(a.error()), api::openai_error_body(a.error()));
    api::chat_result r = to_result(*a);
    attach_tool_calls(p, tools, r);
    std::string response_body = api::responses_body(ids, &r);
    keep(response_body);
    return reply_json(out, 200, std::move(response_body));
  }
  if (!out.start_stream(200, "text/event-stream")) return;
  api::responses_stream events(ids);
  bool open = out.write_chunk(events.start());
  tool_answer answer(p, tools);  // (tool_answer.h: text, a named call's arguments, the end)
  if (open && answer.named()) open = out.write_chunk(events.call_begin(*answer.named()));
  auto a = svc.chat(req->messages, o, [&](const std::string& piece) {
    const tool_answer::step s = answer.feed(piece);
    if (!s.arguments.empty()) open = open && out.write_chunk(events.call_delta(s.arguments));
    if (!s.text.empty()) open = open && out.write_chunk(events.delta(s.text));
    return open;
  });
  if (!open) return;
  if (!a.ok()) {
    out.write_chunk(events.error(a.error()));
    return;
  }
  const tool_answer::end e = answer.finish(*a);
  keep(api::responses_body(ids, &e.result));
  if (!e.unsent.empty() && !out.write_chunk(events.delta(e.unsent))) return;
  out.write_chunk(events.finish(e.result));
}

void stored_response(response_store& store, const std::string& id, const std::string& sub,
                     const http_call& call, http_reply& out) {
  auto missing = [&] {
    reply_json(out, 404,
               api::openai_error_body(not_found("Response with id '" + id + "' not found.", "")));
  };
  if (sub == "input_items") {
    if (call.method != "GET") return reply_json(out, 405, "{\"detail\":\"Method Not Allowed\"}");
    std::map<std::string, std::string> params;
    if (auto st = parse_query(call.query, params); !st.ok())
      return reply_json(out, 400, api::openai_error_body(st));
    auto q = api::read_input_items_query(params);
    if (!q.ok()) return reply_json(out, 400, api::openai_error_body(q.error()));
    auto e = store.get(id);
    if (!e) return missing();
    auto page = api::responses_input_items_body(e->history, e->body, *q);
    if (!page.ok()) return reply_json(out, 400, api::openai_error_body(page.error()));
    return reply_json(out, 200, std::move(*page));
  }
  if (!sub.empty()) return reply_json(out, 404, "{\"detail\":\"Not Found\"}");
  if (call.method == "GET") {
    auto e = store.get(id);
    if (!e) return missing();
    return reply_json(out, 200, e->body);
  }
  if (call.method == "DELETE") {
    if (!store.erase(id)) return missing();
    return reply_json(
        out, 200,
        nlohmann::ordered_json({{"id", id}, {"object", "response"}, {"deleted", true}}).dump());
  }
  reply_json(out, 405, "{\"detail\":\"Method Not Allowed\"}");
}

}  // namespace kaito::actors
