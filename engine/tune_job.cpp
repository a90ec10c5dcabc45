// tune_job (contract: engine/tune_job.h).
#include "engine/tune_job.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>

#include "engine/chat_template.h"
#include "engine/file_text.h"
#include "engine/model_chat.h"
#include "engine/model_weights.h"
#include "engine/peft_adapter.h"
#include "engine/sft_dataset.h"
#include "engine/tokenizer.h"

namespace kaito::engine {

lora_config tune_job::default_lora() {
  lora_config c;
  c.r = 8;
  c.alpha = 8.0;
  c.dropout = 0.0;
  c.target_modules = {"all-linear"};
  return c;
}

status validate_tune_job(const tune_job& j) {
  auto bad = [](const char* flag, const std::string& why) { return invalid_argument(why, flag); };
  if (j.model_dir.empty()) return bad("--model", "a model folder is required");
  if (j.data_paths.empty()) return bad("--data", "a dataset (JSONL or Parquet) is required");
  for (const std::string& p : j.data_paths)
    if (p.empty()) return bad("--data", "an empty file name");
  if (j.out_dir.empty()) return bad("--out", "an output folder is required");
  if (j.epochs < 1 && j.max_steps < 1) return bad("--epochs", "must be >= 1 (or set --max-steps)");
  if (j.max_steps < 0) return bad("--max-steps", "must be >= 0");
  if (j.micro_batch_size < 1) return bad("--micro-batch-size", "must be >= 1");
  if (j.grad_accum < 1) return bad("--grad-accum", "must be >= 1");
  if (j.max_length < 2) return bad("--max-length", "must be >= 2");
  if (!(j.lr > 0.0)) return bad("--lr", "must be > 0");
  if (j.warmup_steps < 0) return bad("--warmup-steps", "must be >= 0");
  if (!(j.max_grad_norm >= 0.0)) return bad("--max-grad-norm", "must be >= 0 (0: no clipping)");
  if (!(j.weight_decay >= 0.0)) return bad("--weight-decay", "must be >= 0");
  if (j.lora.r < 1) return bad("--lora-r", "must be >= 1");
  if (!(j.lora.alpha > 0.0)) return bad("--lora-alpha", "must be > 0");
  if (!(j.lora.dropout >= 0.0 && j.lora.dropout < 1.0))
    return bad("--lora-dropout", "must be in [0, 1)");
  if (j.lora.target_modules.empty() && j.lora.target_regex.empty())
    return bad("--target-modules", "at least one module name (or all-linear)");
  if (j.save_every < 1) return bad("--save-every", "must be >= 1");
  if (j.resume && j.checkpoint_dir.empty())
    return bad("--resume", "needs --checkpoint-dir (the checkpoint to resume)");
  return {};
}

bool tune_checkpoint_due(const tune_job& j, int64_t done, int64_t total) {
  return !j.checkpoint_dir.empty() && (done % j.save_every == 0 || done == total);
}

status replace_checkpoint(const std::string& dir,
                          const std::function<status(const std::string&)>& save) {
  namespace fs = std::filesystem;
  const fs::path target(dir), fresh(dir + ".partial"), old(dir + ".previous");
  std::error_code ec;
  fs::remove_all(fresh, ec);
  KAITO_TRY(save(fresh.string()));
  fs::remove_all(old, ec);
  if (fs::exists(target)) fs::rename(target, old, ec);
  if (ec) return status(status_code::io_error, "cannot move aside: " + ec.message(), dir);
  fs::rename(fresh, target, ec);
  if (ec) return status(status_code::io_error, "cannot put in place: " + ec.message(), dir);
  fs::remove_all(old, ec);
  return {};
}

result<tune_data> load_tune_data(const tune_job& j, const model_config& c) {
  KAITO_ASSIGN_OR_RETURN(model_chat chat, load_model_chat(j.model_dir, j.chat_template_path));
  const tokenizer& tok = *chat.tok;
  const chat_template& tmpl = *chat.tmpl;
  const hf_tokenizer_config& tc = chat.config;
  chat_tokenize_options o;
  o.max_length = j.max_length;
  o.bos_token = tc.bos_token;
  o.eos_token = tc.eos_token;
  tune_data d;
  for (const std::string& path : j.data_paths) {
    KAITO_ASSIGN_OR_RETURN(std::string bytes, read_text(path));
    const bool parquet = is_parquet(bytes);  // by content: a URL's file name may say nothing
    auto recs =
        is_csv_name(path) ? parse_sft_csv(bytes, j.columns) : parse_sft_data(bytes, j.columns);
    if (!recs.ok()) return in_file(recs.error(), path);
    if (recs->empty())
      return invalid_argument(parquet ? "no examples: the Parquet file has no rows"
                                      : "no examples: one {\"messages\": [...]}, "
                                        "{\"prompt\", \"completion\"} or {\"text\"} "
                                        "object a line",
                              path);
    const size_t first = d.examples.size();
    for (const sft_record& r : *recs) {
      auto ex = tokenize_sft(tok, tmpl, r, o);
      if (!ex.ok()) return in_file(ex.error(), path);
      d.truncated += ex->truncated ? 1 : 0;
      d.examples.push_back({std::move(ex->ids), std::move(ex->labels)});
    }
    std::vector<train_example> mine(d.examples.begin() + static_cast<std::ptrdiff_t>(first),
                                    d.examples.end());
    status st = validate_train_data(mine, c.vocab_size);
    if (!st.ok()) {  // where is "data[i]...": name the conversation's line instead
      std::string where = st.where();
      size_t i = 0;
      if (std::sscanf(where.c_str(), "data[%zu]", &i) == 1 && i < recs->size())
        where = chat_record_place((*recs)[i].chat);
      return status(st.code(),
                    st.message() + " (tokenizer.json and config.json vocab_size " +
                        std::to_string(c.vocab_size) + " disagree)",
                    path + ": " + where);
    }
  }
  for (const train_example& e : d.examples)
    d.supervised_tokens +=
        std::count_if(e.labels.begin(), e.labels.end(), [](int32_t l) { return l != -100; });
  if (d.supervised_tokens == 0)
    return invalid_argument("no supervised (assistant or completion) token survives max_length " +
                                std::to_string(j.max_length) + ": nothing to learn",
                            j.data_paths.size() == 1 ? j.data_paths[0] : "--data");
  return d;
}

int64_t tune_total_steps(const tune_job& j, int64_t examples) {
  if (j.max_steps > 0) return j.max_steps;
  const int64_t per_step = j.micro_batch_size * j.grad_accum;
  return j.epochs * std::max<int64_t>(1, (examples + per_step - 1) / per_step);
}

train_config tune_train_config(const tune_job& j, int64_t total_steps) {
  train_config c;
  c.micro_batch_size = j.micro_batch_size;
  c.grad_accum = j.grad_accum;
  c.total_steps = total_steps;
  c.adamw.weight_decay = float(j.weight_decay);
  c.schedule.kind = j.schedule;
  c.schedule.base_lr = j.lr;
  c.schedule.warmup_steps = j.warmup_steps;
  c.schedule.total_steps = total_steps;
  c.max_grad_norm = j.max_grad_norm;
  c.seed = j.seed;
  return c;
}

status run_tune_steps(const tune_job& j, const tune_trainer_ops& t, const tune_progress& on_step,
                      tune_summary& sum) {
  if (j.resume) {
    status st = t.load_checkpoint(j.checkpoint_dir);
    if (!st.ok()) return st.with_context("--resume");
    sum.resumed_at = t.steps_done();
  }
  for (int64_t s = t.steps_done(); s < sum.steps; ++s) {
    KAITO_ASSIGN_OR_RETURN(step_info info, t.step());
    if (s == sum.resumed_at) sum.first_loss = info.loss;
    sum.last_loss = info.loss;
    // a stop after the last step is just the end
    const bool stop = on_step && !on_step(info, sum.steps) && s + 1 < sum.steps;
    if (tune_checkpoint_due(j, s + 1, sum.steps) || (stop && !j.checkpoint_dir.empty()))
      KAITO_TRY(replace_checkpoint(j.checkpoint_dir, t.save_checkpoint));
    if (stop) {
      sum.stopped = true;
      return {};
    }
  }
  return {};
}

result<tune_summary> run_tune_job(const tune_job& j, const tune_progress& on_step) {
  KAITO_TRY(validate_tune_job(j));
  // the data first: a bad line should not wait for the weights to load
  KAITO_ASSIGN_OR_RETURN(model_config cfg, load_model_config(j.model_dir));
  KAITO_ASSIGN_OR_RETURN(tune_data d, load_tune_data(j, cfg));
  KAITO_ASSIGN_OR_RETURN(std::shared_ptr<model> m, load_model(j.model_dir));
  if (j.qlora) nf4_quantize_linears(m.get(), /*double_quant=*/true);
  auto adapter = lora_create(m->config, j.lora, j.seed);
  if (!adapter.ok()) return in_file(adapter.error(), "--target-modules");
  tune_summary sum;
  sum.examples = int64_t(d.examples.size());
  sum.supervised_tokens = d.supervised_tokens;
  sum.truncated = d.truncated;
  sum.steps = tune_total_steps(j, sum.examples);
  KAITO_ASSIGN_OR_RETURN(trainer t,
                         trainer::create(m, std::move(adapter).value(), std::move(d.examples),
                                         tune_train_config(j, sum.steps)));
  tune_trainer_ops ops;
  ops.step = [&] { return t.step(); };
  ops.steps_done = [&] { return t.steps_done(); };
  ops.save_checkpoint = [&](const std::string& dir) { return t.save_checkpoint(dir); };
  ops.load_checkpoint = [&](const std::string& dir) { return t.load_checkpoint(dir); };
  KAITO_TRY(run_tune_steps(j, ops, on_step, sum));
  if (sum.stopped) return sum;
  KAITO_TRY(save_peft_adapter(j.out_dir, t.adapter(), j.model_dir));
  return sum;
}

}  // namespace kaito::engine
