// chat_request: OpenAI /v1/chat/completions and Kaito's legacy /chat bodies -> chat_request.
// The contract (fields, ranges, what is refused) is in chat_api.h.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/api/chat_api.h"
#include "protocol/api/chat_api_fields.h"
#include "protocol/api/chat_tools.h"

namespace kaito::api {
namespace {

using chat_fields::field;
using chat_fields::ojson;
using chat_fields::read_bool;
using chat_fields::read_int;
using chat_fields::read_real;
using chat_fields::unimplemented;
using chat_fields::wrong;

constexpr int64_t kMaxTokenLimit = int64_t{1} << 20;
constexpr size_t kMaxStop = 4;

bool token_count(int64_t n) {
  return n >= 1 && n <= kMaxTokenLimit;
}
bool positive(double d) {
  return d > 0;
}
bool unit_open(double d) {
  return d > 0 && d <= 1;
}

// "stop": a string or an array of at most 4 strings; empty strings are dropped.
status read_stop(const ojson& j, std::vector<std::string>& out) {
  const ojson* v = field(j, "stop");
  if (!v) return {};
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
    return {};
  }
  const char* want = "a string or an array of at most 4 strings";
  if (!v->is_array() || v->size() > kMaxStop) return wrong(*v, "stop", want);
  for (size_t i = 0; i < v->size(); ++i) {
    const ojson& s = (*v)[i];
    if (!s.is_string()) return wrong(s, "stop[" + std::to_string(i) + "]", "a string");
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return {};
}

// "seed": any 64-bit integer; negative ones wrap to their two's complement.
status read_seed(const ojson& j, chat_params& p) {
  const ojson* v = field(j, "seed");
  if (!v) return {};
  if (v->is_number_unsigned()) {
    p.seed = v->get<uint64_t>();
  } else {
    int64_t n = 0;
    KAITO_TRY(read_int(
        j, "seed", "seed", "a 64-bit integer", [](int64_t) { return true; }, n));
    p.seed = static_cast<uint64_t>(n);
  }
  p.has_seed = true;
  return {};
}

// vLLM's extensions: ignore_eos (bool), min_tokens (an integer in [0, max_tokens]) and
// stop_token_ids (an array of at most 64 token ids >= 0; the engine checks the vocabulary).
status read_vllm_stops(const ojson& j, chat_params& p) {
  KAITO_TRY(read_bool(j, "ignore_eos", "ignore_eos", p.ignore_eos));
  KAITO_TRY(read_int(
      j, "min_tokens", "min_tokens", "an integer in [0, 1048576]",
      [](int64_t v) { return v >= 0 && v <= (int64_t(1) << 20); }, p.min_tokens));
  if (p.min_tokens > p.max_tokens)
    return invalid_argument("min_tokens (" + std::to_string(p.min_tokens) +
                                ") must be at most max_tokens (" + std::to_string(p.max_tokens) +
                                ")",
                            "min_tokens");
  const ojson* ids = field(j, "stop_token_ids");
  if (!ids) return {};
  if (!ids->is_array() || ids->size() > 64)
    return wrong(*ids, "stop_token_ids", "an array of at most 64 token ids");
  for (size_t i = 0; i < ids->size(); ++i) {
    const ojson& v = (*ids)[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      return wrong(v, "stop_token_ids[" + std::to_string(i) + "]", "a token id (an integer >= 0)");
    p.stop_token_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return {};
}

// tools/tool_choice and the older functions/function_call: refused unless they cannot matter.
status check_tools(const ojson& j, const char* tools_key, const char* choice_key) {
  const ojson* choice = field(j, choice_key);
  bool none = false;
  if (choice) {
    if (choice->is_string() && choice->get_ref<const std::string&>() == "none") {
      none = true;
    } else if (!(choice->is_string() && choice->get_ref<const std::string&>() == "auto")) {
      return unimplemented(
          "tool calling is not implemented; only \"none\" or \"auto\" without "
          "tools, got " +
              (choice->is_string() ? "\"" + choice->get<std::string>() + "\""
                                   : chat_fields::came(*choice)),
          choice_key);
    }
  }
  const ojson* tools = field(j, tools_key);
  if (!tools) return {};
  if (!tools->is_array()) return wrong(*tools, tools_key, "an array");
  if (!tools->empty() && !none)
    return unimplemented("tool calling is not implemented; send no tools or tool_choice \"none\"",
                         tools_key);
  return {};
}

// The answer's format: response_format, or vLLM's guided_json / structured_outputs; one of
// them, and none beside a forced tool call (which has its schema already).
status read_answer_format(const ojson& j, chat_params& p) {
  const char* format_key = nullptr;
  chat_fields::text_format f;
  const bool forced = p.tool_call == "named" || p.tool_call == "required";
  if (forced) format_key = "tool_choice";  // (a forced call has its schema)
  auto one = [&](const char* key) -> status {
    if (format_key)
      return invalid_argument(
          std::string("both ") + format_key + " and " + key + " ask for a format; send one", key);
    format_key = key;
    return {};
  };
  if (const ojson* rf = field(j, "response_format")) {
    KAITO_TRY(chat_fields::read_text_format(*rf, "response_format", /*nested=*/true, f));
    if (f.json_object || !f.schema.empty()) KAITO_TRY(one("response_format"));
  }
  if (const ojson* g = field(j, "guided_json")) {
    KAITO_TRY(one("guided_json"));
    KAITO_TRY(chat_fields::read_schema(*g, "guided_json", f));
  }
  if (const ojson* so = field(j, "structured_outputs")) {
    if (!so->is_object()) return wrong(*so, "structured_outputs", "an object");
    for (const auto& [key, v] : so->items()) {
      const std::string at = "structured_outputs." + key;
      if (v.is_null() || v == false) continue;
      if (key == "json") {
        KAITO_TRY(one("structured_outputs"));
        KAITO_TRY(chat_fields::read_schema(v, at, f));
      } else if (key == "json_object") {
        if (v != true) return wrong(v, at, "true or false");
        KAITO_TRY(one("structured_outputs"));
        f.json_object = true;
      } else if (key == "disable_any_whitespace") {
        if (!v.is_boolean()) return wrong(v, at, "true or false");
        p.json_compact = v.get<bool>();
      } else if (key == "disable_fallback") {
        if (!v.is_boolean()) return wrong(v, at, "true or false");  // (a hint to vLLM's backends)
      } else {
        return unimplemented(at + " is not implemented; structured_outputs.json (a JSON schema) "
                                  "and json_object are",
                             at);
      }
    }
  }
  if (forced) return {};
  p.json_object = f.json_object;
  p.json_schema = f.schema;
  p.json_schema_where = f.schema_where;
  return {};
}

// OpenAI's tools (chat: chat_tools.h; completions have none), the older functions, and the
// answer's format.
status read_tools_and_format(const ojson& j, chat_request& req, bool chat) {
  if (chat)
    KAITO_TRY(read_tools(j, req));
  else
    KAITO_TRY(check_tools(j, "tools", "tool_choice"));
  KAITO_TRY(check_tools(j, "functions", "function_call"));
  return read_answer_format(j, req.params);
}

// logit_bias: {"<token id>": bias in [-100, 100]} (OpenAI's; the ids are checked against the
// vocabulary by the engine).
status read_logit_bias(const ojson& j, chat_params& p) {
  const ojson* bias = field(j, "logit_bias");
  if (!bias) return {};
  if (!bias->is_object()) return wrong(*bias, "logit_bias", "an object");
  for (const auto& [key, value] : bias->items()) {
    const std::string at = "logit_bias." + key;
    int64_t id = -1;
    if (key.empty() || key.size() > 10 ||
        key.find_first_not_of("0123456789") != std::string::npos ||
        (id = std::stoll(key)) > INT32_MAX)
      return invalid_argument("expected a token id (a decimal integer >= 0) as the key", at);
    if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100))
      return wrong(value, at, "a number in [-100, 100]");
    p.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<double>());
  }
  return {};
}

// vLLM's extra fields that would change the answer and that we do not implement: refused, naming
// them, unless absent, null, empty or at their default.
status check_vllm_unimplemented(const ojson& j, bool chat) {
  struct rule {
    const char* key;
    const char* neutral;  // the JSON of the default that may come ("": only null or empty)
    bool chat_only;
  };
  static const rule rules[] = {
      {"use_beam_search", "false", false},
      {"include_stop_str_in_output", "false", false},
      {"skip_special_tokens", "true", false},
      {"prompt_logprobs", "", false},
      {"allowed_token_ids", "", false},
      {"bad_words", "", false},
      {"guided_regex", "", false},
      {"guided_choice", "", false},
      {"guided_grammar", "", false},
      {"structural_tag", "", false},
      {"logits_processors", "", false},
      {"truncate_prompt_tokens", "", false},
      {"echo", "false", true},
      {"add_generation_prompt", "true", true},
      {"continue_final_message", "false", true},
      {"chat_template", "", true},
      {"chat_template_kwargs", "", true},
  };
  for (const rule& r : rules) {
    if (r.chat_only && !chat) continue;
    const ojson* v = field(j, r.key);
    if (!v || ((v->is_array() || v->is_object()) && v->empty())) continue;
    if (*r.neutral && *v == ojson::parse(r.neutral)) continue;
    return unimplemented(std::string(r.key) + " is not implemented; send " +
                             (*r.neutral ? std::string(r.neutral) : std::string("none")),
                         r.key);
  }
  return {};
}

status read_openai_params(const ojson& j, chat_request& req, bool chat) {
  chat_params& p = req.params;
  const char* tokens = "an integer in [1, 1048576]";
  KAITO_TRY(read_int(j, "max_tokens", "max_tokens", tokens, token_count, p.max_tokens));
  KAITO_TRY(read_int(j, "max_completion_tokens", "max_completion_tokens", tokens, token_count,
                     p.max_tokens));
  KAITO_TRY(read_real(
      j, "temperature", "temperature", "a number in [0, 2]",
      [](double d) { return d >= 0 && d <= 2; }, p.temperature));
  KAITO_TRY(read_real(j, "top_p", "top_p", "a number in (0, 1]", unit_open, p.top_p));
  KAITO_TRY(read_real(
      j, "min_p", "min_p", "a number in [0, 1]", [](double d) { return d >= 0 && d <= 1; },
      p.min_p));
  KAITO_TRY(read_int(
      j, "top_k", "top_k", "an integer >= 0, or -1 for off", [](int64_t k) { return k >= -1; },
      p.top_k));
  if (p.top_k == -1) p.top_k = 0;
  KAITO_TRY(read_real(j, "repetition_penalty", "repetition_penalty", "a number > 0", positive,
                      p.repetition_penalty));
  const auto two = [](double d) { return d >= -2 && d <= 2; };
  KAITO_TRY(read_real(j, "presence_penalty", "presence_penalty", "a number in [-2, 2]", two,
                      p.presence_penalty));
  KAITO_TRY(read_real(j, "frequency_penalty", "frequency_penalty", "a number in [-2, 2]", two,
                      p.frequency_penalty));
  KAITO_TRY(read_int(
      j, "n", "n", "an integer in [1, 128]", [](int64_t v) { return v >= 1 && v <= 128; }, req.n));
  KAITO_TRY(read_seed(j, p));
  KAITO_TRY(read_logit_bias(j, p));
  KAITO_TRY(read_stop(j, p.stop));
  KAITO_TRY(read_vllm_stops(j, p));
  KAITO_TRY(read_bool(j, "stream", "stream", req.stream));
  if (const ojson* so = field(j, "stream_options")) {
    if (!so->is_object()) return wrong(*so, "stream_options", "an object");
    if (!req.stream)
      return invalid_argument("stream_options is only allowed when stream is true",
                              "stream_options");
    KAITO_TRY(read_bool(*so, "include_usage", "stream_options.include_usage", req.include_usage));
  }
  KAITO_TRY(check_vllm_unimplemented(j, chat));
  return read_tools_and_format(j, req, chat);
}

// generate_kwargs of the legacy /chat (HF GenerationConfig names and Kaito's defaults).
status read_generate_kwargs(const ojson& j, chat_params& p) {
  p.max_tokens = 200;
  p.temperature = 1.0;
  p.top_k = 10;
  p.top_p = 1.0;
  p.repetition_penalty = 1.0;
  const ojson* g = field(j, "generate_kwargs");
  if (!g) return {};
  const std::string at = "generate_kwargs";
  if (!g->is_object()) return wrong(*g, at, "an object");
  auto path = [&](const char* k) { return chat_fields::join(at, k); };
  KAITO_TRY(read_int(*g, "max_length", path("max_length"),
                     "an integer in [1, 1048576] (prompt + new tokens)", token_count,
                     p.max_tokens));
  bool do_sample = true;
  KAITO_TRY(read_bool(*g, "do_sample", path("do_sample"), do_sample));
  KAITO_TRY(read_real(
      *g, "temperature", path("temperature"), "a number >= 0", [](double d) { return d >= 0; },
      p.temperature));
  if (!do_sample) p.temperature = 0;
  KAITO_TRY(read_int(
      *g, "top_k", path("top_k"), "an integer >= 0", [](int64_t k) { return k >= 0; }, p.top_k));
  KAITO_TRY(read_real(*g, "top_p", path("top_p"), "a number in (0, 1]", unit_open, p.top_p));
  KAITO_TRY(read_real(*g, "repetition_penalty", path("repetition_penalty"), "a number > 0",
                      positive, p.repetition_penalty));
  // max_new_tokens wins over max_length, as in transformers; min_length counts the prompt too,
  // min_new_tokens does not (the end token waits for both).
  p.max_length = p.max_tokens;
  const char* count = "an integer in [0, 1048576]";
  const auto counts = [](int64_t v) { return v >= 0 && v <= (int64_t(1) << 20); };
  if (field(*g, "max_new_tokens")) {
    KAITO_TRY(read_int(*g, "max_new_tokens", path("max_new_tokens"),
                       "an integer in [1, 1048576] (new tokens)", token_count, p.max_tokens));
    p.max_length = 0;
  }
  KAITO_TRY(read_int(*g, "min_length", path("min_length"), count, counts, p.min_length));
  KAITO_TRY(read_int(*g, "min_new_tokens", path("min_new_tokens"), count, counts, p.min_tokens));
  // eos_token_id (an id or a list) replaces the model's end tokens, as a GenerationConfig does.
  if (const ojson* eos = field(*g, "eos_token_id")) {
    const ojson ids = eos->is_array() ? *eos : ojson::array({*eos});
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_number_integer() || ids[i].get<int64_t>() < 0 ||
          ids[i].get<int64_t>() > INT32_MAX)
        return wrong(*eos, path("eos_token_id"), "a token id or a list of them");
      p.stop_token_ids.push_back(static_cast<int32_t>(ids[i].get<int64_t>()));
    }
    p.stop_token_ids_field = path("eos_token_id");
    p.ignore_eos = true;
  }
  for (const char* k : {"num_beams", "num_return_sequences", "num_beam_groups"}) {
    int64_t n = 1;
    KAITO_TRY(read_int(
        *g, k, path(k), "an integer >= 1", [](int64_t v) { return v >= 1; }, n));
    if (n > 1) return unimplemented(std::string(k) + " > 1 is not implemented", path(k));
  }
  // Other GenerationConfig settings that would change the answer: refused unless at their default.
  for (const auto& [k, neutral] :
       std::vector<std::pair<const char*, double>>{{"typical_p", 1.0},
                                                   {"no_repeat_ngram_size", 0.0},
                                                   {"diversity_penalty", 0.0},
                                                   {"epsilon_cutoff", 0.0},
                                                   {"eta_cutoff", 0.0},
                                                   {"encoder_repetition_penalty", 1.0}}) {
    const ojson* v = field(*g, k);
    if (v && !(v->is_number() && v->get<double>() == neutral))
      return unimplemented(std::string(k) + " is not implemented on /chat", path(k));
  }
  for (const char* k : {"bad_words_ids", "forced_bos_token_id", "forced_eos_token_id",
                        "suppress_tokens", "begin_suppress_tokens", "sequence_bias"}) {
    const ojson* v = field(*g, k);
    if (v && !((v->is_array() || v->is_object()) && v->empty()))
      return unimplemented(std::string(k) + " is not implemented on /chat", path(k));
  }
  return {};
}

}  // namespace

result<chat_request> parse_openai_chat_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  chat_request req;
  KAITO_TRY(chat_fields::read_string(j, "model", "model", req.model));
  const ojson* messages = field(j, "messages");
  if (!messages)
    return invalid_argument("required: a non-empty array of {role, content}", "messages");
  KAITO_ASSIGN_OR_RETURN(req.messages, chat_fields::parse_messages(*messages, "messages"));
  KAITO_TRY(read_openai_params(j, req, true));
  // logprobs (bool) with top_logprobs (vLLM: 400 for top_logprobs without logprobs true)
  bool logprobs = false;
  KAITO_TRY(read_bool(j, "logprobs", "logprobs", logprobs));
  int64_t top = -1;
  KAITO_TRY(read_int(
      j, "top_logprobs", "top_logprobs", "an integer in [0, 20]",
      [](int64_t v) { return v >= 0 && v <= 20; }, top));
  if (top >= 0 && !logprobs)
    return invalid_argument("top_logprobs needs \"logprobs\": true", "top_logprobs");
  req.params.logprobs = logprobs ? std::max<int64_t>(top, 0) : -1;
  return req;
}

result<chat_request> parse_openai_completion_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  chat_request req;
  req.messages = ojson::array();
  req.params.max_tokens = 16;  // OpenAI's and vLLM's default for completions
  KAITO_TRY(chat_fields::read_string(j, "model", "model", req.model));
  const ojson* prompt = field(j, "prompt");
  if (!prompt) return invalid_argument("required: a string", "prompt");
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
  if (prompt->is_array())
    return unimplemented(
        "one prompt, as a string, is implemented (not a batch of prompts or token ids)", "prompt");
  if (!prompt->is_string()) return wrong(*prompt, "prompt", "a string");
  req.prompt = prompt->get<std::string>();
  if (req.prompt.empty()) return invalid_argument("must not be empty", "prompt");
  KAITO_TRY(read_bool(j, "echo", "echo", req.echo));
  std::string suffix;
  KAITO_TRY(chat_fields::read_string(j, "suffix", "suffix", suffix));
  if (!suffix.empty()) return unimplemented("suffix (insertion) is not implemented", "suffix");
  // Here logprobs is a count of top tokens (0..5), not the chat API's boolean.
  int64_t logprobs = -1;
  if (const ojson* lp = field(j, "logprobs")) {
    if (!lp->is_number_integer() || lp->get<int64_t>() < 0 || lp->get<int64_t>() > 5)
      return wrong(*lp, "logprobs", "an integer in [0, 5]");
    logprobs = lp->get<int64_t>();
    j.erase("logprobs");
  }
  // max_tokens 0 with echo: the prompt (and its logprobs) alone, as vLLM answers it.
  const ojson* mt = field(j, "max_tokens");
  const bool none_new = req.echo && mt && mt->is_number_integer() && mt->get<int64_t>() == 0;
  if (none_new) j.erase("max_tokens");
  KAITO_TRY(read_openai_params(j, req, false));
  if (none_new) req.params.max_tokens = 0;
  req.params.logprobs = logprobs;
  if (req.echo) req.params.prompt_logprobs = logprobs;
  // best_of answers, the n most likely returned: best_of = n returns them all (vLLM: >= n).
  int64_t best_of = req.n;
  KAITO_TRY(read_int(
      j, "best_of", "best_of", "an integer >= 1", [](int64_t v) { return v >= 1; }, best_of));
  if (best_of < req.n)
    return invalid_argument(
        "best_of must be >= n (" + std::to_string(req.n) + "), got " + std::to_string(best_of),
        "best_of");
  if (best_of > req.n)
    return unimplemented("best_of > n (ranking answers by likelihood) is not implemented",
                         "best_of");
  return req;
}

result<chat_request> parse_legacy_chat_request(std::string_view body) {
  KAITO_ASSIGN_OR_RETURN(ojson j, chat_fields::parse_body(body));
  chat_request req;
  req.messages = ojson::array();
  KAITO_TRY(chat_fields::read_string(j, "prompt", "prompt", req.prompt));
  const ojson* messages = field(j, "messages");
  if (req.prompt.empty()) {
    // Kaito's `if not request.messages` / `if not request.prompt`, with its texts.
    if (messages && messages->is_array() && messages->empty())
      return invalid_argument("Conversational parameter messages required");
    if (!messages) return invalid_argument("Text generation parameter prompt required");
    KAITO_ASSIGN_OR_RETURN(req.messages, chat_fields::parse_messages(*messages, "messages"));
  }
  KAITO_TRY(read_generate_kwargs(j, req.params));
  return req;
}

}  // namespace kaito::api
