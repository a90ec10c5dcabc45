// chat_service; see chat_service.h.
#include "engine/chat_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/file_text.h"
#include "engine/generate.h"
#include "engine/lora_merge.h"
#include "engine/model_chat.h"
#include "engine/peft_adapter.h"
#include "engine/tokenizer_stream.h"

namespace kaito::engine {

namespace {

// generation_config.json's eos_token_id (an integer or a list), when the file is there.
result<std::vector<int64_t>> generation_eos(const std::string& dir) {
  auto text = read_text(dir + "/generation_config.json");
  if (!text.ok() && text.error().code() == status_code::not_found) return std::vector<int64_t>();
  KAITO_TRY(text);
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("not a JSON object", dir + "/generation_config.json");
  std::vector<int64_t> out;
  const auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return out;
  if (it->is_number_integer()) out.push_back(it->get<int64_t>());
  if (it->is_array())
    for (const auto& v : *it)
      if (v.is_number_integer()) out.push_back(v.get<int64_t>());
  return out;
}

// Text held back while it might still grow into a stop string; what is safe goes to the sink.
struct stop_filter {
  const std::vector<std::string>& stops;
  std::string text;    // everything so far (answer text)
  size_t emitted = 0;  // bytes of `text` given to the sink
  bool stopped = false;

  // Adds a piece; returns the newly safe text.
  std::string add(const std::string& piece) {
    text += piece;
    size_t cut = std::string::npos;
    for (const auto& s : stops) {
      if (s.empty()) continue;
      size_t at = text.find(s, emitted > s.size() ? emitted - s.size() : 0);
      if (at != std::string::npos && at < cut) cut = at;
    }
    if (cut != std::string::npos) {
      text.resize(cut);
      stopped = true;
      return take(text.size());
    }
    size_t hold = 0;  // the longest suffix of text that begins some stop string
    for (const auto& s : stops)
      for (size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
        if (text.compare(text.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
    return take(text.size() - hold);
  }
  std::string take(size_t upto) {
    if (upto <= emitted) return {};
    std::string out = text.substr(emitted, upto - emitted);
    emitted = upto;
    return out;
  }
};

// One logprobs entry: token `id` and its alternatives (at most `top`), texts after `before`.
answer_logprob entry_of(const tokenizer& tok, int32_t before, int32_t id, const step_logprobs& lp,
                        int64_t top) {
  std::vector<int32_t> ids = {id};  // the token, then its alternatives
  const size_t k = std::min(lp.top.size(), static_cast<size_t>(std::max<int64_t>(top, 0)));
  for (size_t i = 0; i < k; ++i) ids.push_back(lp.top[i].id);
  const std::vector<std::string> texts = token_texts_after(tok, before, ids);
  answer_logprob e{texts[0], lp.chosen.logprob, {}};
  for (size_t i = 0; i < k; ++i) e.top.emplace_back(texts[i + 1], lp.top[i].logprob);
  return e;
}

// The prompt's entries: the first token's text with logprob NaN, then raw[i] for token i + 1.
std::vector<answer_logprob> prompt_entries(const tokenizer& tok, const std::vector<int32_t>& prompt,
                                           const std::vector<step_logprobs>& raw, int64_t top) {
  std::vector<answer_logprob> out;
  out.push_back({token_text_after(tok, -1, prompt[0]), std::nan(""), {}});
  for (size_t i = 0; i < raw.size() && i + 1 < prompt.size(); ++i)
    out.push_back(entry_of(tok, prompt[i], prompt[i + 1], raw[i], top));
  return out;
}

// Whether `name` is one of the merged model's other names.
bool is_merged_name(const std::vector<chat_service_config::lora_module_source>& names,
                    const std::string& name) {
  return std::any_of(names.begin(), names.end(), [&](const auto& m) { return m.name == name; });
}

}  // namespace

result<std::unique_ptr<chat_service>> chat_service::load(const chat_service_config& cfg) {
  if (cfg.max_batch < 1) return invalid_argument("must be at least 1", "max_batch");
  if (cfg.max_model_len < 0) return invalid_argument("must not be negative", "max_model_len");
  std::unique_ptr<chat_service> s(new chat_service());
  const std::string& dir = cfg.model_dir;
  if (!cfg.adapter_strengths.empty() && cfg.adapter_strengths.size() != cfg.adapter_dirs.size())
    return invalid_argument("one strength per adapter folder", "adapter_strengths");
  for (float w : cfg.adapter_strengths)
    if (!(w >= 0.0f && w <= 1.0f))
      return invalid_argument("strength must be in [0, 1]", "adapter_strengths");
  if (cfg.make_decoder) {  // the factory loads the weights and adapters itself
    KAITO_ASSIGN_OR_RETURN(s->config_, load_model_config(dir));
  } else {
    KAITO_ASSIGN_OR_RETURN(s->model_, load_model(dir));
    s->config_ = s->model_->config;
  }
  for (size_t i = 0; i < cfg.adapter_dirs.size() && s->model_ != nullptr; ++i) {
    const std::string& a = cfg.adapter_dirs[i];
    auto adapter = load_peft_adapter(a, s->config_);
    if (!adapter.ok()) return in_file(adapter.error(), a);
    if (!cfg.adapter_strengths.empty())
      for (lora_module& m : adapter->modules) m.scale *= cfg.adapter_strengths[i];
    status merged = lora_merge(s->model_.get(), *adapter);
    if (!merged.ok()) return in_file(merged, a);
  }
  if (!cfg.lora_modules.empty() && cfg.make_decoder)
    return status(status_code::unimplemented,
                  "the GPU engine serves adapters merged (--adapter), not as LoRA modules",
                  "lora_modules");
  KAITO_ASSIGN_OR_RETURN(model_chat chat,
                         load_model_chat(dir, cfg.chat_template_path, cfg.fallback_chat_template));
  s->tok_ = std::move(chat.tok);
  s->tok_config_ = std::move(chat.config);
  s->template_ = std::move(chat.tmpl);
  std::vector<int64_t> ends = s->config_.eos_token_ids;
  KAITO_ASSIGN_OR_RETURN(std::vector<int64_t> gen, generation_eos(dir));
  ends.insert(ends.end(), gen.begin(), gen.end());
  if (auto id = s->tok_->token_to_id(s->tok_config_.eos_token)) ends.push_back(*id);
  for (int64_t e : ends)
    if (e >= 0 && e < s->config_.vocab_size &&
        std::find(s->end_tokens_.begin(), s->end_tokens_.end(), e) == s->end_tokens_.end())
      s->end_tokens_.push_back(static_cast<int32_t>(e));
  s->context_ = s->config_.max_position_embeddings;
  if (cfg.max_model_len > 0) s->context_ = std::min(s->context_, cfg.max_model_len);
  std::unique_ptr<sequence_decoder> decoder;
  if (cfg.make_decoder) {
    KAITO_ASSIGN_OR_RETURN(decoder, cfg.make_decoder(cfg, s->config_));
  } else {
    decoder =
        make_cpu_decoder(*s->model_, cfg.max_batch, cfg.prefix_caching ? kDefaultIdleKvBytes : 0);
  }
  s->context_ = std::min(s->context_, decoder->max_len());
  s->max_batch_ = std::min(cfg.max_batch, decoder->slots());
  s->decoder_ = decoder.get();
  s->batcher_ = std::make_unique<batch_generator>(
      s->config_, std::move(decoder), batch_generator_options{.max_batch = cfg.max_batch});
  for (const auto& m : cfg.merged_names)
    if (m.name.empty()) return invalid_argument("a merged adapter's name is empty", "merged_names");
  s->merged_names_ = cfg.merged_names;
  // LoRA modules: loaded as they are (after the merged adapters, which are part of the base).
  for (size_t i = 0; i < cfg.lora_modules.size(); ++i)
    KAITO_TRY(s->load_lora(cfg.lora_modules[i], "lora_modules[" + std::to_string(i) + "].name"));
  return s;
}

std::vector<chat_service_config::lora_module_source> chat_service::lora_modules() const {
  std::lock_guard lock(loras_mu_);
  std::vector<chat_service_config::lora_module_source> out;
  for (const served_lora_ptr& l : loras_) out.push_back({l->name, l->dir, l->root});
  return out;
}

std::vector<served_lora_ptr>::iterator chat_service::lora_named(const std::string& name) const {
  return std::find_if(loras_.begin(), loras_.end(), [&](const auto& l) { return l->name == name; });
}

bool chat_service::serves_lora(const std::string& name) const {
  if (is_merged_name(merged_names_, name)) return true;
  std::lock_guard lock(loras_mu_);
  return lora_named(name) != loras_.end();
}

status chat_service::load_lora(const chat_service_config::lora_module_source& m,
                               const std::string& name_field) const {
  if (m.name.empty()) return invalid_argument("a LoRA module needs a name", name_field);
  if (!decoder_->serves_loras())
    return status(status_code::unimplemented,
                  "this engine serves adapters merged, not as LoRA modules", name_field);
  auto taken = [&] {
    return status(status_code::already_exists,
                  "The lora adapter '" + m.name + "' has already been loaded.", name_field);
  };
  if (serves_lora(m.name)) return taken();  // (before reading the weights; a merged name too)
  auto adapter = load_peft_adapter(m.dir, config_);
  if (!adapter.ok()) return in_file(adapter.error(), m.dir);
  auto l = std::make_shared<served_lora>();
  l->name = m.name;
  l->dir = m.dir;
  l->root = m.root;
  l->lora = std::move(*adapter);
  std::lock_guard lock(loras_mu_);
  if (lora_named(m.name) != loras_.end()) return taken();
  l->id = next_lora_id_++;
  loras_.push_back(std::move(l));
  return {};
}

status chat_service::unload_lora(const std::string& name, const std::string& name_field) const {
  std::lock_guard lock(loras_mu_);
  const auto it = lora_named(name);
  if (it == loras_.end())
    return not_found("The lora adapter '" + name + "' cannot be found.", name_field);
  loras_.erase(it);
  return {};
}

result<std::vector<int32_t>> chat_service::tokenize_chat(
    const nlohmann::ordered_json& messages, bool add_generation_prompt, bool add_special_tokens,
    const nlohmann::ordered_json& tools) const {
  chat_template_inputs in;
  in.messages = messages;
  if (!tools.is_null()) in.extra["tools"] = tools;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = tok_config_.bos_token;
  in.eos_token = tok_config_.eos_token;
  auto text = template_->render(in);
  if (!text.ok()) return in_file(text.error(), "messages (chat template)");
  auto ids = tok_->encode(*text, add_special_tokens);
  if (!ids.ok()) return in_file(ids.error(), "messages");
  return ids;
}

result<std::vector<int32_t>> chat_service::tokenize_text(const std::string& text,
                                                         bool add_special_tokens) const {
  auto ids = tok_->encode(text, add_special_tokens);
  if (!ids.ok()) return in_file(ids.error(), "prompt");
  return ids;
}

result<std::string> chat_service::detokenize(const std::vector<int32_t>& ids) const {
  const auto vocab =
      static_cast<int64_t>(std::max<size_t>(tok_->vocab_size(), size_t(config_.vocab_size)));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      return invalid_argument("token id " + std::to_string(ids[i]) + " is outside the vocabulary",
                              "tokens[" + std::to_string(i) + "]");
  return tok_->decode(ids, /*skip_special_tokens=*/false);
}

result<chat_answer> chat_service::chat(const nlohmann::ordered_json& messages,
                                       const chat_options& o, const piece_sink& on_piece) const {
  // apply_chat_template tokenizes the rendered text without adding special tokens again.
  KAITO_ASSIGN_OR_RETURN(auto ids, tokenize_chat(messages, true, false, o.tools));
  return run(ids, o, on_piece);
}

result<chat_answer> chat_service::complete_text(const std::string& prompt, const chat_options& o,
                                                const piece_sink& on_piece) const {
  KAITO_ASSIGN_OR_RETURN(auto ids, tokenize_text(prompt, true));
  return run(ids, o, on_piece);
}

int64_t chat_service::limit_kv_cache(uint64_t bytes) const {
  if (decoder_->kv_block_size() > 0) return decoder_->kv_blocks() * decoder_->kv_block_size();
  if (decoder_->kv_preallocated()) return decoder_->slots() * decoder_->max_len();
  const int64_t tokens =
      bytes == 0 ? 0 : std::max<int64_t>(1, int64_t(bytes / uint64_t(kv_bytes_per_token())));
  batcher_->set_kv_budget_tokens(tokens);
  return tokens;
}

int64_t chat_service::waiting() const {
  return batcher_->load().waiting;
}

serving_snapshot chat_service::stats() const {
  serving_snapshot s = stats_.snapshot();
  auto load = batcher_->load();
  s.running = load.running;
  s.waiting = load.waiting;
  s.preemptions = uint64_t(load.preemptions);
  s.prefix_cache_queries = uint64_t(load.prefix_queries);
  s.prefix_cache_hits = uint64_t(load.prefix_hits);
  s.kv_cache_usage =
      load.kv_blocks > 0 ? double(load.kv_blocks_used) / double(load.kv_blocks) : 0.0;
  {
    std::lock_guard lock(loras_mu_);
    s.lora_modules = int64_t(loras_.size());
  }
  s.running_loras = std::move(load.running_loras);
  s.waiting_loras = std::move(load.waiting_loras);
  return s;
}

result<chat_answer> chat_service::run(const std::vector<int32_t>& prompt, const chat_options& o,
                                      const piece_sink& on_piece) const {
  const int64_t ctx = context_;
  if (prompt.empty()) return invalid_argument("the prompt renders to no tokens", "messages");
  if (static_cast<int64_t>(prompt.size()) >= ctx)
    return invalid_argument("the prompt is " + std::to_string(prompt.size()) +
                                " tokens; this model's context is " + std::to_string(ctx),
                            "messages");
  auto in_vocabulary = [&](int32_t id, const std::string& field) -> status {
    if (id >= 0 && id < config_.vocab_size) return {};
    return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary (" +
                                std::to_string(config_.vocab_size) + " tokens)",
                            field);
  };
  for (size_t i = 0; i < o.stop_token_ids.size(); ++i)
    KAITO_TRY(
        in_vocabulary(o.stop_token_ids[i], o.stop_token_ids_field + "[" + std::to_string(i) + "]"));
  for (const auto& [id, bias] : o.sampling.logit_bias)
    KAITO_TRY(in_vocabulary(id, "logit_bias." + std::to_string(id)));
  served_lora_ptr lora;  // o.lora's, held by the answer until it ends
  if (!o.lora.empty() && !is_merged_name(merged_names_, o.lora)) {
    std::lock_guard lock(loras_mu_);
    const auto it = lora_named(o.lora);
    if (it == loras_.end())
      return status(status_code::not_found, "no LoRA module named \"" + o.lora + "\"", "model");
    lora = *it;
  }
  chat_answer a;
  a.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> keep;  // special tokens the text keeps (a tool parser's markers)
  for (const std::string& t : o.keep_special)
    if (auto id = tok_->token_to_id(t); id && tok_->is_special(*id)) keep.push_back(*id);
  tokenizer_decode_stream stream(*tok_, /*skip_special_tokens=*/true, std::move(keep));
  stop_filter stops{o.stop};
  bool client_gone = false, ended = false;
  status failure;
  generate_options g;
  g.max_new_tokens = std::min<int64_t>(o.max_tokens, ctx - a.prompt_tokens);
  if (o.max_total_tokens > 0)
    g.max_new_tokens = std::min<int64_t>(g.max_new_tokens, o.max_total_tokens - a.prompt_tokens);
  if (o.max_tokens <= 0 && o.prompt_logprobs >= 0) g.max_new_tokens = 0;  // the prompt's alone
  if (g.max_new_tokens <= 0 && o.prompt_logprobs < 0) {
    // nothing may be added (HF's max_length already reached)
    a.length = true;
    stats_.record(a.prompt_tokens, 0, finish_reason::length, -1.0, 0.0);
    return a;
  }
  g.sampling = o.sampling;
  g.lora = std::move(lora);
  // what ends the answer: the end tokens (unless ignore_eos) and the request's stop ids
  std::vector<int32_t> stop_ids = o.ignore_eos ? std::vector<int32_t>{} : end_tokens_;
  stop_ids.insert(stop_ids.end(), o.stop_token_ids.begin(), o.stop_token_ids.end());
  g.stop_tokens = stop_ids;
  g.cached_prompt_tokens = &a.cached_tokens;
  if (o.json_object || o.schema) {
    std::call_once(vocab_once_,
                   [&] { vocab_ = vocab_bytes::from_tokenizer(*tok_, config_.vocab_size); });
    const int whitespace = o.json_compact ? 0 : 16;  // bytes in a row inside the value
    if (o.schema)
      g.filter = std::make_shared<schema_token_filter>(vocab_, stop_ids, o.schema, whitespace);
    else
      g.filter = std::make_shared<json_token_filter>(vocab_, stop_ids, whitespace);
  }
  const int64_t min_new = std::max(o.min_tokens, o.min_total_tokens - a.prompt_tokens);
  if (min_new > 0) g.filter = std::make_shared<min_tokens_filter>(stop_ids, min_new, g.filter);
  std::vector<step_logprobs> raw;  // one per token drawn, appended before on_token sees it
  if (o.logprobs >= 0) {
    g.logprobs = &raw;
    g.top_logprobs = o.logprobs;
  }
  std::vector<step_logprobs> raw_prompt;
  if (o.prompt_logprobs >= 0) {
    g.prompt_logprobs = &raw_prompt;
    g.top_logprobs = std::max(g.top_logprobs, o.prompt_logprobs);
  }
  int32_t last = prompt.back();  // the token before the next one drawn
  const auto t0 = std::chrono::steady_clock::now();
  double ttft = -1.0;
  auto since = [&t0] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  bool prompt_given = false;  // the prompt's entries are made (before the first token's)
  auto give_prompt = [&] {
    if (prompt_given || o.prompt_logprobs < 0) return;
    prompt_given = true;
    a.prompt_logprobs = prompt_entries(*tok_, prompt, raw_prompt, o.prompt_logprobs);
    if (o.stream_logprobs)
      o.stream_logprobs->insert(o.stream_logprobs->end(), a.prompt_logprobs.begin(),
                                a.prompt_logprobs.end());
  };
  g.on_token = [&](int32_t id) {
    give_prompt();
    if (ttft < 0) ttft = since();
    ++a.completion_tokens;
    if (std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
      ended = true;
      return false;
    }
    if (o.logprobs >= 0 && !raw.empty()) {  // (raw.back() is this token's)
      answer_logprob e = entry_of(*tok_, last, id, raw.back(), o.logprobs);
      if (o.stream_logprobs) o.stream_logprobs->push_back(e);
      a.logprobs.push_back(std::move(e));
    }
    last = id;
    auto piece = stream.step(id);
    if (!piece.ok()) {
      failure = piece.error();
      return false;
    }
    if (!*piece) return true;
    std::string safe = stops.add(**piece);
    if (!safe.empty() && on_piece && !on_piece(safe)) client_gone = true;
    return !stops.stopped && !client_gone;
  };
  auto out = batcher_->generate(prompt, g);
  if (out.ok()) give_prompt();  // (no token came: max_tokens 0)
  if (!out.ok() || !failure.ok()) {
    stats_.record(a.prompt_tokens, a.completion_tokens, finish_reason::abort, ttft, since());
    return out.ok() ? failure : out.error();
  }
  if (!stops.stopped && !client_gone) {  // what was held back for a stop string that never came
    std::string rest = stops.take(stops.text.size());
    if (!rest.empty() && on_piece) on_piece(rest);
  }
  a.text = stops.text;
  a.length = !ended && !stops.stopped && !client_gone;
  stats_.record(a.prompt_tokens, a.completion_tokens,
                client_gone ? finish_reason::abort
                : a.length  ? finish_reason::length
                            : finish_reason::stop,
                ttft, since());
  return a;
}

}  // namespace kaito::engine
