// tune_job: the work of `kaito tune`: a LoRA or QLoRA fine-tune of a local Hugging Face model
// folder on a dataset in one of TRL SFTTrainer's formats (JSONL, a JSON array or Parquet),
// written out as a PEFT adapter, with Kaito's tuning defaults.
// run_tune_job runs it on the CPU engine (engine::trainer); the CUDA engine runs the same job
// through engine/cuda_hf/gpu_tune_job.h. Both read their inputs with load_tune_data.
//
// Inputs (model_dir, as `huggingface-cli download` leaves it):
//   config.json + *.safetensors   the base model (engine/model_weights.h)
//   tokenizer.json                the tokenizer (engine/tokenizer.h)
//   tokenizer_config.json         chat_template, bos_token, eos_token (engine/chat_template.h);
//                                 chat_template_path overrides the template (a .jinja file, e.g.
//                                 presets/chat_templates/phi-3.jinja)
//   data_paths                    JSONL files, JSON arrays, or Parquet files (told by their
//                                 PAR1 magic), each of one format (engine/sft_dataset.h):
//                                 {"messages": [...]} conversations as Kaito's example datasets
//                                 (assistant turns supervised), {"prompt", "completion"} strings
//                                 or message lists (the completion supervised), or {"text"}
//                                 (every token); records in file order; field names from
//                                 `columns`
// Output: out_dir/adapter_config.json + adapter_model.safetensors (PeftModel.from_pretrained).
//
// Defaults are what a Kaito tuning Workspace runs (reference/kaito.md: the qlora-params template
// and the HF / TRL defaults it leaves): NF4 base with double quantization, LoRA r 8, alpha 8,
// dropout 0 on every decoder linear ("all-linear"; PEFT never adapts lm_head), 3 epochs, micro
// batch 1, conversations cut at 1024 tokens and a learning rate of 2e-5 (TRL SFTConfig's
// max_length and learning_rate) on a linear schedule without warmup, max grad norm 1.0, weight
// decay 0, seed 42. Steps: max_steps when > 0, else epochs * ceil(examples /
// (micro_batch_size * grad_accum)).
// Checkpoints: with checkpoint_dir, a training checkpoint (engine/train_checkpoint.h: the adapter,
// AdamW moments, step and data position; the GPU tuner reads the CPU trainer's and back) is
// written there every save_every steps and after the last, each replacing the one before only
// once it is complete. resume starts from it: the same model, data and flags continue the run
// bit for bit on the CPU engine (a different seed or adapter layout is refused, naming it).
// Errors name the file and field, line or flag ("tokenizer_config.json: chat_template",
// "chat.jsonl: line 3: messages[1].content", "data.jsonl: line 2: completion",
// "--micro-batch-size"); nothing is written to out_dir unless training finished.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"
#include "engine/sft_dataset.h"
#include "engine/train_batches.h"
#include "engine/trainer.h"
#include "kernels/lr_schedule.h"

namespace kaito::engine {

struct tune_job {
  std::string model_dir, out_dir;
  std::vector<std::string> data_paths;  // JSONL, JSON array or Parquet, read in this order
  sft_columns columns;                  // the fields (columns) the records are read from
  std::string chat_template_path;       // empty: tokenizer_config.json's chat_template
  bool qlora = true;                    // NF4 + double quant (Kaito's method: qlora); false: lora
  lora_config lora = default_lora();
  int64_t epochs = 3;
  int64_t max_steps = 0;  // > 0: this many optimizer steps instead of epochs
  int64_t micro_batch_size = 1;
  int64_t grad_accum = 1;
  int64_t max_length = 1024;  // tokens kept per conversation (TRL SFTConfig's max_length)
  double lr = 2e-5;
  lr_schedule_kind schedule = lr_schedule_kind::linear;
  int64_t warmup_steps = 0;
  double max_grad_norm = 1.0;
  double weight_decay = 0.0;
  uint64_t seed = 42;
  // GPU engine: keep only each layer's input and recompute the layer in backward (TRL's
  // SFTConfig turns gradient checkpointing on by default, so Kaito's runs have it); the same
  // result bit for bit, less memory, more time. The CPU engine keeps every activation.
  bool activation_checkpointing = true;
  std::string checkpoint_dir;  // empty: no checkpoints
  int64_t save_every = 100;    // steps between checkpoints
  bool resume = false;         // start from checkpoint_dir's checkpoint

  static lora_config default_lora();
};

// The job's examples: the tokenizer and chat template of model_dir applied to data_paths.
struct tune_data {
  std::vector<train_example> examples;
  int64_t supervised_tokens = 0;  // labels != -100 over all examples
  int64_t truncated = 0;          // conversations cut at max_length
};
result<tune_data> load_tune_data(const tune_job& j, const model_config& c);

// invalid_argument naming the flag for a non-positive size or rate, or empty paths.
status validate_tune_job(const tune_job& j);
// The optimizer steps the job runs over `examples` examples.
int64_t tune_total_steps(const tune_job& j, int64_t examples);
// The trainer configuration (schedule over total_steps).
train_config tune_train_config(const tune_job& j, int64_t total_steps);

struct tune_summary {
  int64_t examples = 0, steps = 0, supervised_tokens = 0;
  int64_t truncated = 0;    // conversations cut at max_length
  size_t device_bytes = 0;  // GPU engine: the step's activations + AdamW moments (else 0)
  int64_t resumed_at = 0;   // steps the checkpoint had done (resume), else 0
  bool stopped = false;     // on_step asked to stop: no adapter written (a checkpoint is)
  double first_loss = 0.0, last_loss = 0.0;  // of the first and last step this run made
};

// Whether a checkpoint is due after `done` of `total` steps.
bool tune_checkpoint_due(const tune_job& j, int64_t done, int64_t total);
// Writes a checkpoint with `save` into a fresh sibling of dir, then puts it in dir's place: a
// crash mid-save leaves the previous checkpoint whole.
status replace_checkpoint(const std::string& dir,
                          const std::function<status(const std::string&)>& save);
// Called after every optimizer step with the step's numbers and the total; false stops the run
// there (Ctrl-C in `kaito tune`): a checkpoint is written when checkpoint_dir is set, the
// adapter is not, and the summary says stopped.
using tune_progress = std::function<bool(const step_info&, int64_t total_steps)>;

// The step loop both engines run over their trainer: resume (job.resume), the steps up to
// sum.steps with on_step after each, checkpoints when due or on a stop; fills sum's resumed_at,
// first / last loss and stopped. The caller writes the adapter unless sum.stopped.
struct tune_trainer_ops {
  std::function<result<step_info>()> step;
  std::function<int64_t()> steps_done;
  std::function<status(const std::string&dir)> save_checkpoint, load_checkpoint;
};
status run_tune_steps(const tune_job& j, const tune_trainer_ops& t, const tune_progress& on_step,
                      tune_summary& sum);

// The whole job on the CPU engine; writes the adapter to out_dir at the end.
result<tune_summary> run_tune_job(const tune_job& j, const tune_progress& on_step = {});

}  // namespace kaito::engine
