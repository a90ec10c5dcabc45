// `kaito tune --model DIR --data FILE.jsonl|FILE.json|FILE.parquet... --out DIR`: fine-tunes a
// local Hugging Face model folder with LoRA or QLoRA on a dataset in one of TRL SFTTrainer's
// formats (conversations, prompt-completion, text: engine/sft_dataset.h) and writes a PEFT adapter
// (engine/tune_job.h: the inputs, Kaito's defaults, the errors). One line per optimizer step, then
// a summary.
//   --device cpu   the CPU engine (fp32 math; the NF4 base dequantized per product)
//   --device cuda  the GPU engine (engine/cuda_hf/gpu_tune_job.h); needs a kaito built with nvcc
//                  (KAITO_CLI_WITH_CUDA) and a CUDA device
// Ctrl-C (SIGINT, or SIGTERM) stops after the step in progress; with --checkpoint-dir the run is
// kept there and --resume continues it.
// Exit code 0 when the adapter is written, 130 when stopped, 2 on bad flags or input (the message
// names the flag, file and field or line) and when the device is not there.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/cuda_tuner.h"
#include "engine/tune_job.h"

namespace kaito::cli {

namespace {

// Set by SIGINT / SIGTERM: the run stops after the step in progress (and checkpoints).
volatile std::sig_atomic_t g_stop = 0;

void request_stop(int) {
  g_stop = 1;
}

bool print_step(const engine::step_info& s, int64_t total) {
  std::printf("step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.4g  tokens %lld\n",
              (long long)s.step, (long long)total, s.loss, s.lr, s.grad_norm, (long long)s.tokens);
  std::fflush(stdout);
  return g_stop == 0;
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune",
      "Fine-tune a local Hugging Face model on a dataset of conversations, prompt-completion "
      "pairs or text (JSONL, JSON, Parquet or CSV; LoRA / QLoRA)");
  auto j = std::make_shared<engine::tune_job>();
  auto method = std::make_shared<std::string>("qlora");
  auto device = std::make_shared<std::string>("cpu");
  auto schedule = std::make_shared<std::string>("linear");
  cmd->add_option("--model", j->model_dir,
                  "Model folder: config.json, *.safetensors, tokenizer.json, tokenizer_config.json")
      ->required();
  cmd->add_option(
         "--data", j->data_paths,
         "JSONL (one record a line), a JSON array of records, Parquet (columns) or CSV (a .csv "
         "name, a header line), each file "
         "of one of TRL's formats: {\"messages\": [...]} conversations (Kaito's datasets; "
         "assistant turns learned), {\"prompt\": ..., \"completion\": ...} strings or "
         "message lists (the completion learned), or {\"text\": ...} (all of it); several "
         "files are read in order")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", j->out_dir, "Folder for the PEFT adapter")->required();
  cmd->add_option("--dataset-text-field", j->columns.text,
                  "The text records' field or column (TRL's dataset_text_field; default text)");
  cmd->add_option("--device", *device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--method", *method, "qlora (NF4 base) or lora (bf16 / fp32 base)")
      ->check(CLI::IsMember({"qlora", "lora"}));
  cmd->add_option("--chat-template", j->chat_template_path,
                  "A .jinja chat template instead of tokenizer_config.json's");
  cmd->add_option("--epochs", j->epochs, "Passes over the data (default 3)");
  cmd->add_option("--max-steps", j->max_steps, "Optimizer steps instead of epochs");
  cmd->add_option("--micro-batch-size", j->micro_batch_size, "Records a micro-batch");
  cmd->add_option("--grad-accum", j->grad_accum, "Micro-batches an optimizer step");
  cmd->add_option("--max-length", j->max_length, "Tokens kept per record (default 1024)");
  cmd->add_option("--lr", j->lr, "Peak learning rate (default 2e-5)");
  cmd->add_option("--lr-schedule", *schedule, "constant, constant_with_warmup, linear, cosine")
      ->check(CLI::IsMember({"constant", "constant_with_warmup", "linear", "cosine"}));
  cmd->add_option("--warmup-steps", j->warmup_steps, "Linear warmup steps");
  cmd->add_option("--max-grad-norm", j->max_grad_norm, "Global norm clip (0: none; default 1)");
  cmd->add_option("--weight-decay", j->weight_decay, "AdamW weight decay");
  cmd->add_option("--lora-r", j->lora.r, "LoRA rank (default 8)");
  cmd->add_option("--lora-alpha", j->lora.alpha, "LoRA alpha (default 8)");
  cmd->add_option("--lora-dropout", j->lora.dropout, "LoRA dropout (default 0)");
  cmd->add_option("--target-modules", j->lora.target_modules,
                  "Module names to adapt (default all-linear)")
      ->delimiter(',');
  cmd->add_option("--seed", j->seed, "Adapter init, data order and dropout (default 42)");
  cmd->add_option("--activation-checkpointing", j->activation_checkpointing,
                  "--device cuda: recompute each layer in backward to save memory (default true, "
                  "as TRL's gradient_checkpointing)");
  cmd->add_option("--checkpoint-dir", j->checkpoint_dir,
                  "Keep a training checkpoint here (every --save-every steps, at the end, and "
                  "on Ctrl-C)");
  cmd->add_option("--save-every", j->save_every, "Steps between checkpoints (default 100)");
  cmd->add_flag("--resume", j->resume, "Continue the run in --checkpoint-dir");
  cmd->callback([j, method, device, schedule] {
    j->qlora = *method == "qlora";
    lr_schedule_kind_from_name(*schedule, &j->schedule);
    if (status st = engine::validate_tune_job(*j); !st.ok()) {
      std::fprintf(stderr, "kaito tune: %s\n", st.to_string().c_str());
      set_exit_code(2);
      return;
    }
    std::string data;
    for (const auto& p : j->data_paths) data += (data.empty() ? "" : ", ") + p;
    std::printf("kaito tune: %s on %s, %s on %s\n", j->model_dir.c_str(), data.c_str(),
                method->c_str(), device->c_str());
    g_stop = 0;
    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    auto r =
        *device == "cuda" ? tune_on_cuda(*j, print_step) : engine::run_tune_job(*j, print_step);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (!r.ok()) {
      std::fprintf(stderr, "kaito tune: %s\n", r.error().to_string().c_str());
      set_exit_code(2);
      return;
    }
    if (r->device_bytes > 0)
      std::printf(
          "kaito tune: the training step held %.1f MiB on the device (activations, "
          "AdamW moments)\n",
          double(r->device_bytes) / (1024.0 * 1024.0));
    if (r->truncated > 0)
      std::printf("kaito tune: %lld conversation(s) cut at --max-length %lld\n",
                  (long long)r->truncated, (long long)j->max_length);
    if (r->resumed_at > 0)
      std::printf("kaito tune: resumed at step %lld from %s\n", (long long)r->resumed_at,
                  j->checkpoint_dir.c_str());
    if (r->stopped) {
      const std::string kept =
          j->checkpoint_dir.empty()
              ? "no --checkpoint-dir, so nothing was kept"
              : "checkpoint in " + j->checkpoint_dir + " (continue with --resume)";
      std::printf("kaito tune: stopped; %s\n", kept.c_str());
      set_exit_code(130);
      return;
    }
    std::printf(
        "kaito tune: wrote %s: %lld steps over %lld examples (%lld supervised tokens), "
        "loss %.4f -> %.4f\n",
        j->out_dir.c_str(), (long long)r->steps, (long long)r->examples,
        (long long)r->supervised_tokens, r->first_loss, r->last_loss);
    set_exit_code(0);
  });
}

}  // namespace kaito::cli
