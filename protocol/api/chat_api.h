// chat_api: the HTTP bodies of `kaito serve`: OpenAI's POST /v1/chat/completions (as vLLM and HF
// `transformers serve` take it, streamed or not), GET /v1/models, and Kaito's legacy POST /chat
// (transformers runtime v0.1 ... v0.8: {"prompt" | "messages", "generate_kwargs"} -> {"Result"}).
//
// Requests are parsed into one chat_request whatever API asked, so the engine sees one shape.
// Parsing never throws: malformed JSON, bytes that are not UTF-8 inside strings, numbers that
// overflow a double and bodies nested deeper than 64 levels are invalid_argument with where()
// "byte <offset>" (0-based offset of the byte the JSON parser stopped at). Every other error names
// the JSON field path in where() ("messages[2].content", "generate_kwargs.top_p", "" for the body
// as a whole) and its message says what was wanted and what came. A null field counts as absent.
//
// Responses are JSON text that is always valid UTF-8: bytes of the model's text that are not UTF-8
// become U+FFFD. Status codes map to HTTP through http_reason_for (protocol/api/meta.h).
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kaito::api {

// What the engine needs, whatever API asked. Ranges are checked by the parsers below.
struct chat_params {
  int64_t max_tokens = 200;         // new tokens (OpenAI); for /chat HF's max_length, see below
  double temperature = 1.0;         // 0 = greedy; OpenAI [0, 2], /chat [0, inf)
  double top_p = 1.0;               // (0, 1]
  double min_p = 0.0;               // [0, 1]; 0 = off (vLLM's)
  int64_t top_k = 0;                // 0 = off; >= 0
  double repetition_penalty = 1.0;  // > 0; 1 = off
  // OpenAI's, over the tokens generated so far, in [-2, 2]; 0 = off (engine/sampling.h)
  double presence_penalty = 0.0, frequency_penalty = 0.0;
  std::vector<std::pair<int32_t, double>> logit_bias;  // (token id, added to its logit)
  uint64_t seed = 0;                                   // meaningful only when has_seed
  bool has_seed = false;
  std::vector<std::string> stop;  // stop strings (OpenAI "stop"), at most 4, none empty
  // -1: no logprobs; >= 0: each answer token's log-probability and this many of the most likely
  // alternatives (chat: "logprobs": true with "top_logprobs").
  int64_t logprobs = -1;
  // -1: none; >= 0: the prompt's tokens too, with this many alternatives each (completions' echo
  // with logprobs).
  int64_t prompt_logprobs = -1;
  // response_format {"type": "json_object"}: the answer is one JSON object.
  bool json_object = false;
  // response_format {"type": "json_schema"} (vLLM's guided_json, structured_outputs.json): the
  // answer is a value this schema (JSON text) admits; json_schema_where names it in errors
  // ("response_format.json_schema.schema").
  std::string json_schema, json_schema_where;
  // vLLM's structured_outputs.disable_any_whitespace: a JSON answer has no whitespace outside its
  // strings (compact, as json.dumps(separators=(",", ":")) writes it).
  bool json_compact = false;
  // vLLM's: end tokens do not end the answer; these ids end it too; no end before min_tokens.
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  // Where stop_token_ids came from, for an error about one (id i: "<field>[i]"): /chat's are
  // generate_kwargs.eos_token_id.
  std::string stop_token_ids_field = "stop_token_ids";
  int64_t min_tokens = 0;
  // /chat only: HF's total lengths (prompt + new tokens); 0 = none.
  int64_t max_length = 0, min_length = 0;
  // Chat's tools (chat_tools.h): "" (none, or tool_choice "none"), "auto" (the model chooses;
  // calls are read out of its answer, tool_call_parser.h), or a forced call: "named" (the answer
  // is tool_name's arguments) or "required" (a JSON array of {"name", "parameters"}), with
  // json_schema the schema that holds the answer to it; tool_schemas: each tool's parameters (its
  // JSON text and path, "tools[i].function.parameters") for the engine to check one by one.
  std::string tool_call, tool_name;
  std::vector<std::pair<std::string, std::string>> tool_schemas;
};

struct chat_request {
  std::string model;  // "" when not given
  // Array of {role, content(string)}, roles system/user/assistant/tool; an assistant's may hold
  // tool_calls, a tool's tool_call_id (chat_tools.h); empty for a prompt.
  nlohmann::ordered_json messages;
  std::string prompt;  // legacy /chat text-generation form (messages empty then)
  chat_params params;
  bool stream = false;         // OpenAI "stream"
  bool include_usage = false;  // OpenAI "stream_options": {"include_usage": true}
  bool echo = false;           // completions: the prompt comes back before the answer
  // OpenAI "n": answers to the one prompt, choices[0 .. n-1], decoded together; with a seed,
  // choice i samples with seed + i (so choice 0 is the n = 1 answer for that seed).
  int64_t n = 1;
  // Chat's tools as given ([{"type":"function","function":{...}}]) for the chat template's
  // `tools`; null when none came.
  nlohmann::ordered_json tools;
};

// POST /v1/chat/completions body (OpenAI):
//   model (string), messages (required, non-empty array of {role, content}; role system, user,
//   assistant or tool, and OpenAI's "developer", which becomes "system"; content a string or an
//   array of {"type":"text","text":...} parts joined with "\n" as vLLM does, other part types
//   unimplemented; content may be absent or null on an assistant message only, read as ""),
//   max_completion_tokens, or else max_tokens (integers in [1, 1<<20]), temperature [0, 2],
//   top_p (0, 1], top_k (vLLM: >= 0, -1 = off, read as 0), repetition_penalty (vLLM: > 0),
//   presence_penalty and frequency_penalty ([-2, 2]), logit_bias ({"<token id>": [-100, 100]};
//   the engine refuses ids outside the vocabulary, naming logit_bias),
//   seed (any 64-bit integer, negative ones as their two's complement), stop (a string or an array
//   of at most 4 strings; empty strings are dropped), n (an integer in [1, 128], OpenAI's limit),
//   stream (bool), stream_options
//   ({"include_usage": bool}; only with stream true, as OpenAI and vLLM answer 400 otherwise),
//   logprobs (bool) and top_logprobs (an integer in [0, 20]; only with logprobs true, as vLLM
//   answers 400 otherwise): params.logprobs = top_logprobs (0 when absent) with logprobs, else -1;
//   vLLM's ignore_eos (bool), min_tokens ([0, max_tokens]), stop_token_ids (at most 64 ids) and
//   min_p ([0, 1]). vLLM's other extras that change the answer are unimplemented naming them
//   unless at their default: use_beam_search, include_stop_str_in_output, skip_special_tokens
//   false, prompt_logprobs, allowed_token_ids, bad_words, guided_regex/choice/grammar,
//   structural_tag, logits_processors, truncate_prompt_tokens, and for chat echo,
//   add_generation_prompt false, continue_final_message, chat_template, chat_template_kwargs.
// Unknown fields are ignored (user, metadata, store, ...). Fields that would
// change the result and are not implemented are unimplemented naming them:
// functions / function_call (OpenAI's older calls) unless function_call is "none" or there are
// none, messages[i].function_call. tools, tool_choice and parallel_tool_calls: chat_tools.h (a
// forced call, or "auto"); messages[i].tool_calls (an assistant's) and
// tool_call_id (a tool's) are kept for the template. response_format
// {"type":"json_object"} sets params.json_object (the answer constrained to one JSON object, as
// OpenAI's JSON mode); {"type":"json_schema","json_schema":{"name":...,"schema":{...}}} sets
// params.json_schema (structured outputs; chat_fields::read_text_format), and so do vLLM's
// guided_json (a schema or its text) and structured_outputs {"json": ...} ({"json_object":
// true} sets json_object; "disable_any_whitespace": true sets json_compact); two of them at once
// are invalid_argument, structured_outputs' other kinds unimplemented naming them.
result<chat_request> parse_openai_chat_request(std::string_view body);

// POST /v1/completions body (OpenAI's legacy completions, served by vLLM): model, prompt (a
// non-empty string, or an array of one; required), echo (bool), and the sampling fields of chat
// completions above (max_tokens defaults to 16 here, as in OpenAI and vLLM; stream,
// stream_options, stop, seed, ...). logprobs is an integer in [0, 5] here (params.logprobs; with
// echo true params.prompt_logprobs too: the prompt's own tokens come first in the choice's
// logprobs, as vLLM and lm-evaluation-harness's loglikelihood use them), max_tokens may be 0 with
// echo (the prompt and its logprobs alone, as vLLM), n as in chat, best_of (>= n;
// invalid_argument below n, as vLLM's 400). suffix (non-empty), best_of > n (ranking answers by
// likelihood; vLLM's V1 engine dropped it too) and a batch of prompts or token ids are
// unimplemented.
result<chat_request> parse_openai_completion_request(std::string_view body);

// POST /chat body (Kaito's legacy transformers server): "prompt" (string) or "messages" (as
// above). A non-empty prompt wins when both come (text-generation pipeline). Neither: an
// invalid_argument with where() "" and Kaito's exact text, "Conversational parameter messages
// required" when "messages" came empty, "Text generation parameter prompt required" otherwise.
// "generate_kwargs" (object): max_length (default 200, [1, 1<<20]) is HF's TOTAL length, prompt
// plus new tokens, returned in params.max_length and params.max_tokens: the caller counts the
// prompt. max_new_tokens ([1, 1<<20]) wins over it, as in transformers (params.max_tokens,
// max_length 0). min_length (total, params.min_length) and min_new_tokens (params.min_tokens):
// the end token waits for both. eos_token_id (an id or a list) replaces the model's end tokens
// (params.ignore_eos and stop_token_ids). do_sample (default true; false -> temperature 0);
// temperature (default 1.0, >= 0); top_k (default 10, >= 0); top_p (default 1, (0, 1]);
// repetition_penalty (default 1, > 0). Unimplemented, naming them: num_beams,
// num_return_sequences and num_beam_groups > 1; typical_p, no_repeat_ngram_size,
// diversity_penalty, epsilon_cutoff, eta_cutoff, encoder_repetition_penalty off their defaults;
// bad_words_ids, forced_bos/eos_token_id, suppress_tokens, begin_suppress_tokens,
// sequence_bias. Other keys (pad_token_id, early_stopping, length_penalty: beam search's) are
// ignored; so are the top-level return_full_text, clean_up_tokenization_spaces, prefix, ...
result<chat_request> parse_legacy_chat_request(std::string_view body);

// One answer token's log-probability and the most likely alternatives' (the model's, before
// temperature and the other sampling settings). token: its text, which may hold bytes that are not
// UTF-8 (a byte of a multi-byte character); "bytes" lists them.
struct logprob_entry {
  std::string token;
  double logprob = 0.0;
  std::vector<std::pair<std::string, double>> top;  // most likely first
};

// One function call of an answer (chat_tools.h): "chatcmpl-tool-<hex>", the function's name,
// its arguments (JSON text).
struct tool_call {
  std::string id, name, arguments;
};

struct chat_result {
  std::string text;  // may hold bytes that are not UTF-8 (a cut multi-byte token)
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string finish_reason;  // "stop" | "length" | "tool_calls"
  int64_t cached_tokens = 0;  // > 0: usage.prompt_tokens_details.cached_tokens
  bool has_logprobs = false;  // asked for: choices[0].logprobs = {"content": [...]}, else null
  std::vector<logprob_entry> logprobs;
  // Non-empty: the answer is these calls (message.tool_calls; message.content the text, null
  // when it is empty).
  std::vector<tool_call> tool_calls;
};

// {"id":"chatcmpl-<id>","object":"chat.completion","created":<unix
// s>,"model":<model>,"choices":[{"index":0,
//  "message":{"role":"assistant","content":<text>},"finish_reason":<reason>,"logprobs":null}],
//  "usage":{"prompt_tokens":..,"completion_tokens":..,"total_tokens":..}}
// `id` is the part after "chatcmpl-". One entry of choices per result, index i for results[i]
// (n > 1; results must not be empty); usage counts the prompt once (results[0]'s, with the fewest
// cached_tokens of any) and the completion tokens of all. With has_logprobs, "logprobs" is
// {"content":[{"token",
// "logprob","bytes":[...],"top_logprobs":[{"token","logprob","bytes"}...]}...]} (OpenAI's; a
// logprob that is not finite is -9999.0, as vLLM writes it). With cached_tokens > 0, usage also
// holds "prompt_tokens_details":{"cached_tokens":..} (OpenAI's and vLLM's: prompt tokens served
// from the prefix cache).
std::string openai_chat_response(const std::vector<chat_result>& results, const std::string& model,
                                 const std::string& id, int64_t created_unix_s);
std::string openai_chat_response(const chat_result& r, const std::string& model,
                                 const std::string& id, int64_t created_unix_s);

// One SSE event of a streamed answer: "data: {chat.completion.chunk JSON}\n\n", id "chatcmpl-<id>",
// choices[0] = {"index":0,"delta":{...},"logprobs":null,"finish_reason":<reason or null>}. The
// delta holds "role" when role is not null and "content" when content is not null (OpenAI's first
// event is role "assistant" with content "", the middle ones content pieces, the last an empty
// delta with finish_reason). Null pointers mean absent; pointees are read only during the call.
// usage_null adds "usage":null, as OpenAI does on every chunk when include_usage is asked for.
// logprobs not null: choices[0].logprobs = {"content": [...]} with those entries (the tokens
// whose text this chunk carries, or the last ones with the finish reason), as in the response.
// index: the choice the chunk belongs to (n > 1: each choice streams its own role, pieces and
// finish reason, interleaved with the others').
std::string openai_chat_chunk(const std::string& id, const std::string& model,
                              int64_t created_unix_s, const std::string* role,
                              const std::string* content, const std::string* finish_reason,
                              bool usage_null = false,
                              const std::vector<logprob_entry>* logprobs = nullptr,
                              int64_t index = 0);
// The include_usage chunk, sent after the finish reason and before [DONE]: "choices":[] and
// "usage":{"prompt_tokens","completion_tokens","total_tokens"}; completions = true gives the
// completions stream's "cmpl-" id and "text_completion" object.
std::string openai_usage_chunk(const std::string& id, const std::string& model,
                               int64_t created_unix_s, int64_t prompt_tokens,
                               int64_t completion_tokens, bool completions = false,
                               int64_t cached_tokens = 0);
// The same for the answers to one prompt (n choices): usage as openai_chat_response counts it.
std::string openai_usage_chunk(const std::string& id, const std::string& model,
                               int64_t created_unix_s, const std::vector<chat_result>& results,
                               bool completions = false);
// "data: [DONE]\n\n".
std::string openai_stream_done();

// Completions: {"id":"cmpl-<id>","object":"text_completion","created":..,"model":..,
//  "choices":[{"index":0,"text":<text>,"logprobs":null,"finish_reason":<reason>}],"usage":{..}}.
// With has_logprobs, "logprobs" is the legacy form: {"tokens":[...],"token_logprobs":[...],
// "top_logprobs":[{<token>:<logprob>,...}...],"text_offset":[...]}, each top_logprobs entry the
// top k and the chosen token (up to k + 1, as OpenAI's), text_offset each token's start in
// characters (code points) of the answer text from text_offset0 on. An entry whose logprob is
// NaN (the first prompt token under echo: nothing predicts it) has null token_logprobs and
// top_logprobs entries, as OpenAI's and vLLM's. Several results: choices
// and usage as in openai_chat_response.
std::string openai_completion_response(const std::vector<chat_result>& results,
                                       const std::string& model, const std::string& id,
                                       int64_t created_unix_s);
std::string openai_completion_response(const chat_result& r, const std::string& model,
                                       const std::string& id, int64_t created_unix_s);
// One streamed piece: the same object with choices[0].text the piece and finish_reason null, or
// "" and the reason for the last one; usage_null as for chat chunks. logprobs not null: the
// legacy form for those entries, text offsets from *text_offset (characters of the answer so
// far), which the call advances past them. index: the choice, as for chat chunks.
std::string openai_completion_chunk(const std::string& id, const std::string& model,
                                    int64_t created_unix_s, const std::string& text,
                                    const std::string* finish_reason, bool usage_null = false,
                                    const std::vector<logprob_entry>* logprobs = nullptr,
                                    int64_t* text_offset = nullptr, int64_t index = 0);

// {"error":{"message":...,"type":"invalid_request_error"|"not_implemented"|"server_error",
//  "param":<where or null>,"code":null}}. message is s.to_string() ("<where>: <message>").
// Type: invalid_argument, not_found, failed_precondition, resource_exhausted ->
// invalid_request_error; unimplemented -> not_implemented; others -> server_error.
std::string openai_error_body(const status& s);

// One entry of GET /v1/models: vLLM's ModelCard. A LoRA module (--lora-modules) has its folder as
// root and the base model's name as parent; the base model its max_model_len.
struct model_card {
  std::string id;
  std::string root, parent;   // "": left out
  int64_t max_model_len = 0;  // 0: left out
};
// {"object":"list","data":[{"id":<id>,"object":"model","created":<t>,"owned_by":"kaito"
//  [,"root":..][,"parent":..][,"max_model_len":..]}]}
std::string openai_models_body(const std::vector<model_card>& models, int64_t created_unix_s);

// Legacy: {"Result": text}; errors {"detail": s.to_string()} (Kaito's own texts have no where()).
std::string legacy_chat_response(const std::string& text);
std::string legacy_error_body(const status& s);

}  // namespace kaito::api
